import { render } from "preact";
import { App } from "./app";
import { restore } from "./api/session";
import "@fontsource/noto-sans-thai/400.css"; // Thai served from here: the same letters everywhere, offline
import "@fontsource/noto-sans-thai/700.css";
import "./styles.css";

render(<App />, document.getElementById("app") as HTMLElement);
void restore();
