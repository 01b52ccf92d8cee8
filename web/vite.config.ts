// The dashboard's build: index.html at the root of dist/ (served at /), every asset under
// dist/assets/ with a content hash in its name (served at /app/assets/, cached for a year).
import { defineConfig } from "vite";

export default defineConfig({
  base: "/app/",
  build: {
    outDir: "dist",
    assetsDir: "assets",
    emptyOutDir: true,
    target: "es2022",
    // No polyfill: it would be code the CSP has to allow, and current browsers need none.
    modulePreload: { polyfill: false },
  },
});
