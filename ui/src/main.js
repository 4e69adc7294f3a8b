// Entry point: each page names itself in <body data-page>; its code runs on load.
import { initPipelinePage } from "./pipeline.js";
import { initRunPage } from "./run.js";
import { initPipelinesPage, initRunsPage, initSchedulesPage } from "./lists.js";

const PAGES = {
  pipelines: initPipelinesPage,
  pipeline: initPipelinePage,
  runs: initRunsPage,
  run: initRunPage,
  schedules: initSchedulesPage,
};

const init = PAGES[document.body.dataset.page];
if (init) {
  Promise.resolve(init()).catch((err) => {
    console.error(err);
    const status = document.getElementById("graph-status");
    if (status) status.textContent = `Could not draw the graph: ${err.message}`;
  });
}
