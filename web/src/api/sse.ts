// Server-Sent Events over fetch(). EventSource cannot send an Authorization header, and a token
// in the URL would end up in logs, so the stream is read from a normal authenticated request:
// the same bearer token as every other call, checked when the stream opens.
import { readJson } from "./http";
import { bearer } from "./session";

export interface ServerEvent {
  event: string;
  data: unknown;
}

/** Parse one "event: ...\ndata: ..." block (the server sends one JSON data line per event). */
export function parseEvent(block: string): ServerEvent | null {
  let event = "message";
  const data: string[] = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) event = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  if (!data.length) return null;
  return { event, data: JSON.parse(data.join("\n")) };
}

/** Read the stream at /api + path until it ends (or ``signal`` aborts), one callback per event. */
export async function readEvents(path: string, onEvent: (e: ServerEvent) => void, signal: AbortSignal): Promise<void> {
  const token = await bearer();
  const response = await fetch("/api" + path, {
    headers: { Accept: "text/event-stream", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    signal,
  });
  if (!response.ok || !response.body) {
    await readJson(response); // throws the envelope as an ApiError
    return;
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end: number;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const parsed = parseEvent(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (parsed) onEvent(parsed);
    }
  }
}
