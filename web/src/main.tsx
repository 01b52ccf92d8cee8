import { render } from "preact";
import { App } from "./app";
import { restore } from "./api/session";
// Thai letters served from here (the Thai subset only): the same everywhere, offline.
import "@fontsource/noto-sans-thai/thai-400.css";
import "@fontsource/noto-sans-thai/thai-700.css";
import "./styles.css";

render(<App />, document.getElementById("app") as HTMLElement);
void restore();
