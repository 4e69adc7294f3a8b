// Bundles the browser code into the Python package's static folder (served at /static/dist/).
import * as esbuild from "esbuild";

const outdir = new URL("../src/headwater/web/static/dist/", import.meta.url).pathname;
const common = { bundle: true, minify: true, sourcemap: true, target: ["chrome110", "firefox115", "safari16"], logLevel: "warning" };

await esbuild.build({ ...common, entryPoints: { app: "src/main.js" }, format: "esm", outdir });
await esbuild.build({ ...common, entryPoints: { "layout-worker": "src/layout-worker.js" }, format: "iife", outdir });
