// Pictures for the methods people would rather look at than read: class probabilities
// as bars (ModelInference), an image through a filter (VideoProcessing.ProcessFrames),
// and feedback as a live list coloured by sentiment (FeedbackService).

import { el } from "./editor.js";
import { unary } from "./calls.js";

/**
 * Mounts the view of `method`, if it has one. `ctx` holds the page's parts: `custom`
 * (above the editor), `picture` (above the replies), `editor`, `options()` (token,
 * deadline, metadata) and `runStream(messages)`. Returns `{onReply, onEnd}` hooks or null.
 */
export function mountView(method, ctx) {
  switch (method.path) {
    case "/model.ModelInference/Predict":
    case "/model.ModelInference/PredictStream":
      return modelView(ctx);
    case "/video.VideoProcessing/ProcessFrames":
      return videoView(ctx);
    case "/feedback.FeedbackService/SendFeedback":
    case "/feedback.FeedbackService/WatchFeedback":
    case "/feedback.FeedbackService/ListFeedback":
      return feedbackView(ctx);
    default:
      return null;
  }
}

/** A unary call made by a view, with the page's token and deadline. */
async function callJson(ctx, path, request) {
  const { token, timeoutMs } = ctx.options();
  const result = await unary({ path, body: JSON.stringify(request), token, timeoutMs, metadata: [] });
  if (result.error) throw new Error(`${path}: ${result.error.code}: ${result.error.message}`);
  return result.message;
}

// ---- ModelInference: probabilities as bars ------------------------------------------

const metadataCache = new Map();

/** The model's metadata (labels of its first output), fetched once per model. */
function modelMetadata(ctx, modelId) {
  if (!metadataCache.has(modelId)) {
    metadataCache.set(modelId, callJson(ctx, "/model.ModelInference/GetModelMetadata", { modelId })
      .catch((err) => { metadataCache.delete(modelId); throw err; }));
  }
  return metadataCache.get(modelId);
}

function modelView(ctx) {
  const charts = el("div", { class: "charts" });
  return {
    onReply: async (message) => {
      const response = message.response ?? (message.outputs ? message : null);
      if (!response) return;
      if (!charts.isConnected) ctx.picture.append(charts);
      let labels = [];
      try {
        const metadata = await modelMetadata(ctx, response.modelId);
        labels = metadata.outputs?.[0]?.labels ?? [];
      } catch (err) {
        charts.append(el("p", { class: "error-text" }, err.message));
      }
      const outputs = response.outputs ?? [];
      const shape = (response.outputShape ?? []).map(Number);
      const width = shape.length === 2 && shape[1] > 0 ? shape[1] : outputs.length;
      for (let row = 0; row * width < outputs.length; row++) {
        const values = outputs.slice(row * width, (row + 1) * width);
        charts.append(barChart(values, labels, message.index ?? row, response.modelId));
      }
    },
  };
}

/** One row of outputs: bars when the labels say it is a classifier, numbers otherwise. */
function barChart(values, labels, index, modelId) {
  const title = el("h4", {}, `${modelId} · row ${index}`);
  if (labels.length !== values.length) {
    return el("div", { class: "chart" }, title,
      el("p", {}, `output: ${values.map((v) => Number(v).toPrecision(6)).join(", ")}`));
  }
  const best = values.indexOf(Math.max(...values));
  return el("div", { class: "chart" }, title, values.map((value, i) => el("div", { class: `bar-row${i === best ? " best" : ""}` },
    el("span", { class: "label" }, labels[i]),
    el("span", { class: "bar" }, el("span", { class: "fill", style: `width: ${Math.max(0, Math.min(1, value)) * 100}%` })),
    el("span", { class: "value" }, `${(value * 100).toFixed(1)}%`))));
}

// ---- VideoProcessing: an image through a filter -------------------------------------

function videoView(ctx) {
  const file = el("input", { type: "file", accept: "image/*", id: "video-file" });
  const filter = el("select", { id: "video-filter" });
  const sliders = el("div", { class: "sliders" });
  const run = el("button", { type: "button", class: "primary", id: "video-run", disabled: "" }, "Process the image");
  const note = el("p", { class: "muted" }, "Loading the filters…");
  ctx.custom.append(el("div", { class: "video-panel" },
    el("h3", {}, "Process an image"),
    el("div", { class: "row" }, el("label", {}, "Image ", file), el("label", {}, "Filter ", filter)),
    sliders, el("div", { class: "row" }, run), note));
  let filters = [];
  let limits = {};
  let original = null;

  const showParams = () => {
    const info = filters.find((f) => f.name === filter.value);
    sliders.replaceChildren(...(info?.params ?? []).map((param) => {
      const step = Number.isInteger(param.min) && Number.isInteger(param.max) && param.max - param.min > 10 ? 1 : (param.max - param.min) / 100;
      const input = el("input", { type: "range", min: param.min, max: param.max, step, value: param.default, "data-param": param.name });
      const shown = el("output", {}, String(param.default));
      input.addEventListener("input", () => { shown.textContent = input.value; });
      return el("label", { title: param.description }, `${param.name} `, input, shown);
    }));
    note.textContent = info?.description ?? "";
  };
  filter.addEventListener("change", showParams);
  callJson(ctx, "/video.VideoProcessing/ListFilters", {}).then((reply) => {
    filters = reply.filters ?? [];
    limits = reply;
    filter.replaceChildren(...filters.map((f) => el("option", { value: f.name }, f.name)));
    if (filters.some((f) => f.name === "edges")) filter.value = "edges";
    showParams();
    run.disabled = false;
  }).catch((err) => { note.textContent = err.message; });

  run.addEventListener("click", async () => {
    if (!file.files.length) {
      note.textContent = "Choose an image file first.";
      return;
    }
    try {
      original = await loadImage(file.files[0], Number(limits.maxFramePixels ?? 0));
    } catch (err) {
      note.textContent = `Cannot read that image: ${err.message}`;
      return;
    }
    const params = {};
    for (const input of sliders.querySelectorAll("input")) params[input.dataset.param] = Number(input.value);
    note.textContent = `${original.width} x ${original.height} pixels, sent as PNG.`;
    ctx.runStream([
      { config: { filter: filter.value, params, outputEncoding: "ENCODING_PNG" } },
      { frame: { sequenceNumber: "1", width: original.width, height: original.height, encoding: "ENCODING_PNG", data: original.base64 } },
    ]);
  });

  return {
    onReply: (message) => {
      const frame = message.frame;
      if (!frame?.data) return;
      const type = { ENCODING_PNG: "image/png", ENCODING_JPEG: "image/jpeg" }[frame.encoding];
      const processed = type ? el("img", { src: `data:${type};base64,${frame.data}`, alt: "processed frame", id: "processed-image" })
        : el("p", { class: "muted" }, `A raw ${frame.encoding} frame of ${frame.width} x ${frame.height}: ask for ENCODING_PNG to see it.`);
      ctx.picture.replaceChildren(el("div", { class: "frames" },
        original ? el("figure", {}, el("img", { src: original.url, alt: "original image", id: "original-image" }), el("figcaption", {}, "original")) : null,
        el("figure", {}, processed, el("figcaption", {}, `${filter.value || "processed"} · ${Number(message.processingTimeUs ?? 0) / 1000} ms on the server`))));
    },
  };
}

/** Decodes an image file, scales it under `maxPixels`, and encodes it as PNG. */
async function loadImage(blob, maxPixels) {
  const bitmap = await createImageBitmap(blob);
  let { width, height } = bitmap;
  if (maxPixels > 0 && width * height > maxPixels) {
    const scale = Math.sqrt(maxPixels / (width * height));
    width = Math.max(1, Math.floor(width * scale));
    height = Math.max(1, Math.floor(height * scale));
  }
  const canvas = el("canvas", { width, height });
  canvas.getContext("2d").drawImage(bitmap, 0, 0, width, height);
  const url = canvas.toDataURL("image/png");
  return { width, height, url, base64: url.slice(url.indexOf(",") + 1) };
}

// ---- FeedbackService: a live list coloured by sentiment -----------------------------

function feedbackView(ctx) {
  const list = el("ol", { class: "feedback-list", id: "feedback-list" });
  const add = (item) => {
    if (!list.isConnected) ctx.picture.append(el("h4", {}, "Feedback"), list);
    const score = item.sentimentScore === undefined ? "" : ` (${Number(item.sentimentScore).toFixed(2)})`;
    list.append(el("li", { class: `sentiment-${item.sentiment || "none"}` },
      el("span", { class: "sentiment" }, `${item.sentiment || "error"}${score}`),
      item.id ? el("span", { class: "id" }, `#${item.id}`) : null,
      item.consumerId ? el("b", {}, ` ${item.consumerId}: `) : " ",
      item.text));
    list.lastChild.scrollIntoView({ block: "nearest" });
  };
  return {
    onReply: (message) => {
      if (message.feedback && Array.isArray(message.feedback)) {
        for (const f of message.feedback) add({ ...f, text: f.feedback });
      } else if (message.feedback) {
        add({ ...message.feedback, text: message.feedback.feedback });
      } else if (message.lagged) {
        add({ sentiment: "", text: `missed ${message.lagged.missed}; resume after #${message.lagged.resumeAfterId}` });
      } else if (message.error) {
        add({ sentiment: "", text: message.error.message });
      } else if ("sentiment" in message || "feedbackId" in message) {
        add({ id: message.feedbackId, sentiment: message.sentiment, sentimentScore: message.sentimentScore, text: message.responseMessage ?? "" });
      }
    },
  };
}
