// The compare view (see view.py): two results at a time, side by side, swiped,
// flipped or as their difference, zoomed and panned together.  The kernel owns
// which pair is shown and sends its pictures as message buffers (never widget
// state); this view sets the mode, divider, flip, zoom and pan traits.
const MODES = [
  ["side by side", "Side by side", "columns"],
  ["swipe", "Swipe", "arrows-h"],
  ["flip", "Flip", "exchange"],
  ["difference", "Difference", "adjust"],
];
const MAX_ZOOM = 16;
const STEP = 1.5;  // one click of + or −

const make = (tag, css, parent) => {
  const e = document.createElement(tag);
  if (css) e.className = css;
  if (parent) parent.append(e);
  return e;
};
const button = (css, icon, tip, parent, label) => {
  const b = make("button", `jupyter-button widget-button ${css}`, parent);
  b.type = "button";
  b.title = tip;
  b.setAttribute("aria-label", tip);
  if (icon) make("i", `fa fa-${icon}`, b).setAttribute("aria-hidden", "true");
  if (label) make("span", "xenodia-cv-label", b).textContent = label;
  return b;
};
const short = (text, n) => {
  const t = (text || "").replace(/\s+/g, " ").trim();
  return t.length <= n ? t : `${t.slice(0, n - 1)}…`;
};
const clamp = (v, lo, hi) => Math.min(Math.max(v, lo), hi);
const centre = (c, z) => clamp(c, 0.5 / z, 1 - 0.5 / z);  // never past the picture's edge

export default {
  render({ model, el }) {
    const root = make("div", "xenodia-cv", el);
    root.tabIndex = 0;
    root.setAttribute("role", "group");
    root.setAttribute("aria-label", "Compare: ← → step, F flips, 1 to 4 change the view, + − 0 zoom");

    const bar = make("div", "xenodia-cv-bar", root);
    const modes = make("div", "xenodia-cv-group xenodia-cv-modes", bar);
    const modeButtons = MODES.map(([mode, label, icon], i) => {
      const b = button("xenodia-cv-mode", icon, `${label} (${i + 1})`, modes, label);
      b.dataset.mode = mode;
      b.addEventListener("click", () => setMode(mode));
      return b;
    });
    const nav = make("div", "xenodia-cv-group", bar);
    const previous = button("xenodia-cv-previous", "chevron-left", "Previous (←)", nav);
    const position = make("span", "xenodia-cv-position", nav);
    const next = button("xenodia-cv-next", "chevron-right", "Next (→)", nav);
    const pin = button("xenodia-cv-pin", "thumb-tack", "Pin the right one as the baseline (P)", nav);
    const flip = button("xenodia-cv-flip", "exchange", "Flip between the two (F or space)", nav);
    const zooms = make("div", "xenodia-cv-group", bar);
    const zoomOut = button("xenodia-cv-zoom-out", "search-minus", "Zoom out (−)", zooms);
    const zoomLevel = make("span", "xenodia-cv-zoom-level", zooms);
    const zoomIn = button("xenodia-cv-zoom-in", "search-plus", "Zoom in (+, or the wheel once the view is clicked)", zooms);
    const zoomReset = button("xenodia-cv-zoom-reset", "compress", "Whole picture (0)", zooms);

    const names = make("div", "xenodia-cv-names", root);
    const leftName = make("span", "xenodia-cv-name xenodia-cv-name-left", names);
    const rightName = make("span", "xenodia-cv-name xenodia-cv-name-right", names);

    const stages = make("div", "xenodia-cv-stages", root);
    const main = make("div", "xenodia-cv-stage xenodia-cv-main", stages);
    const baseImg = make("img", "xenodia-cv-img xenodia-cv-base", main);
    const clip = make("div", "xenodia-cv-clip", main);
    const otherImg = make("img", "xenodia-cv-img xenodia-cv-other", clip);
    const diffImg = make("img", "xenodia-cv-img xenodia-cv-diff", main);
    const divider = make("div", "xenodia-cv-divider", main);
    make("i", "fa fa-arrows-h", make("div", "xenodia-cv-handle", divider)).setAttribute("aria-hidden", "true");
    const second = make("div", "xenodia-cv-stage xenodia-cv-second", stages);
    const secondImg = make("img", "xenodia-cv-img xenodia-cv-right", second);
    for (const img of [baseImg, otherImg, diffImg, secondImg]) img.draggable = false;

    const foot = make("div", "xenodia-cv-foot", root);
    const legend = make("span", "xenodia-cv-legend", foot);
    make("span", "", legend).textContent = "same";
    const legendImg = make("img", "xenodia-cv-legend-strip", legend);
    legendImg.alt = "colour scale";
    make("span", "", legend).textContent = "most different";
    const note = make("span", "xenodia-cv-note", foot);
    const picks = make("div", "xenodia-cv-picks", root);

    // Pictures from the kernel --------------------------------------------------------------
    const urls = {};
    let shown = null;  // [baseline, other] the pictures on screen are of
    let diffShown = null;
    let askedLarger = false;
    const setPicture = (kind, buffer, type, imgs) => {
      if (urls[kind]) URL.revokeObjectURL(urls[kind]);
      urls[kind] = URL.createObjectURL(new Blob([buffer], { type }));
      for (const img of imgs) img.src = urls[kind];
    };
    const forget = () => {
      for (const kind of Object.keys(urls)) URL.revokeObjectURL(urls[kind]);
      for (const img of [baseImg, otherImg, diffImg, secondImg, legendImg]) img.removeAttribute("src");
      shown = diffShown = null;
    };
    const onMessage = (msg, buffers) => {
      if (msg.kind === "pictures") {
        setPicture("left", buffers[0], "image/jpeg", [baseImg]);
        setPicture("right", buffers[1], "image/jpeg", [otherImg, secondImg]);
        const [w, h] = msg.sizes[0];
        root.style.setProperty("--xenodia-cv-ratio", `${w / h}`);
        shown = msg.pair;
        askedLarger = false;
      } else if (msg.kind === "difference") {
        setPicture("difference", buffers[0], "image/jpeg", [diffImg]);
        setPicture("legend", buffers[1], "image/png", [legendImg]);
        diffShown = msg.pair;
      } else if (msg.kind === "clear") {
        forget();
      }
      draw();
    };

    // Changing the traits ---------------------------------------------------------------------
    let saveTimer = 0;
    const save = (later) => {
      clearTimeout(saveTimer);
      if (later) saveTimer = setTimeout(() => model.save_changes(), 250);  // a drag sends one change
      else model.save_changes();
    };
    const setMode = (mode) => {
      model.set("mode", mode);
      save(false);
    };
    const doFlip = () => {
      if (model.get("mode") !== "flip") {
        model.set("mode", "flip");
        model.set("flipped", true);
      } else model.set("flipped", !model.get("flipped"));
      save(false);
    };
    const setSplit = (f, later) => {
      model.set("split", clamp(f, 0, 1));
      save(later);
    };
    const setView = (z, cx, cy, later) => {
      z = clamp(z, 1, MAX_ZOOM);
      model.set("zoom", z);
      model.set("center_x", centre(cx, z));
      model.set("center_y", centre(cy, z));
      save(later);
    };
    const zoomAt = (factor, fx = 0.5, fy = 0.5, later = false) => {
      const z0 = model.get("zoom");
      const z1 = clamp(z0 * factor, 1, MAX_ZOOM);
      const ux = model.get("center_x") + (fx - 0.5) / z0;  // the picture's point under the pointer stays there
      const uy = model.get("center_y") + (fy - 0.5) / z0;
      setView(z1, ux - (fx - 0.5) / z1, uy - (fy - 0.5) / z1, later);
    };
    previous.addEventListener("click", () => model.send({ event: "step", by: -1 }));
    next.addEventListener("click", () => model.send({ event: "step", by: 1 }));
    pin.addEventListener("click", () => model.send({ event: "pin" }));
    flip.addEventListener("click", doFlip);
    zoomIn.addEventListener("click", () => zoomAt(STEP));
    zoomOut.addEventListener("click", () => zoomAt(1 / STEP));
    zoomReset.addEventListener("click", () => setView(1, 0.5, 0.5));

    // Drawing ---------------------------------------------------------------------------------
    const maybeLarger = () => {
      // Past the preview's own pixels: ask the kernel once for the pair at large_px.
      const z = model.get("zoom");
      if (askedLarger || !shown || z <= 1 || model.get("picture_px") >= model.get("large_px")) return;
      const img = model.get("mode") === "difference" ? diffImg : baseImg;
      const needed = z * main.clientWidth * (window.devicePixelRatio || 1);
      if (img.naturalWidth && needed > img.naturalWidth * 1.05) {
        askedLarger = true;
        model.send({ event: "larger" });
      }
    };
    const draw = () => {
      const mode = model.get("mode");
      const titles = model.get("titles");
      const count = titles.length;
      const base = model.get("baseline");
      const other = model.get("current");
      const flipped = model.get("flipped");
      const split = model.get("split");
      const z = model.get("zoom");
      root.dataset.mode = mode;
      root.classList.toggle("xenodia-cv-empty", count < 2);
      root.classList.toggle("xenodia-cv-flipped", mode === "flip" && flipped);
      for (const b of modeButtons) b.classList.toggle("mod-active", b.dataset.mode === mode);
      if (count < 2) {
        leftName.textContent = "Pick two or more results to compare.";
        rightName.textContent = note.textContent = position.textContent = "";
        picks.replaceChildren();
        return;
      }
      const others = [...titles.keys()].filter((i) => i !== base);
      baseImg.alt = `Baseline #${base + 1}: ${short(titles[base], 120)}`;
      otherImg.alt = secondImg.alt = `#${other + 1}: ${short(titles[other], 120)}`;
      diffImg.alt = `Difference between #${base + 1} and #${other + 1}`;
      leftName.textContent = `Baseline #${base + 1} · ${short(titles[base], 70)}`;
      leftName.title = titles[base];
      rightName.textContent = `#${other + 1} · ${short(titles[other], 70)}`;
      rightName.title = titles[other];
      leftName.classList.toggle("xenodia-cv-on", mode === "flip" && !flipped);
      rightName.classList.toggle("xenodia-cv-on", mode === "flip" && flipped);
      position.textContent = `${others.indexOf(other) + 1} of ${others.length}`;
      previous.disabled = next.disabled = others.length < 2;
      flip.classList.toggle("mod-active", mode === "flip" && flipped);
      stages.classList.toggle("xenodia-cv-two", mode === "side by side");
      second.style.display = mode === "side by side" ? "" : "none";
      baseImg.style.display = mode === "difference" ? "none" : "";
      clip.style.display = mode === "swipe" || (mode === "flip" && flipped) ? "" : "none";
      clip.style.clipPath = mode === "swipe" ? `inset(0 0 0 ${split * 100}%)` : "none";
      divider.style.display = mode === "swipe" ? "" : "none";
      divider.style.left = `${split * 100}%`;
      diffImg.style.display = mode === "difference" ? "" : "none";
      legend.style.display = mode === "difference" && diffShown ? "" : "none";
      const noteText = model.get("note");
      note.textContent = mode === "difference" || noteText.startsWith("could not") ? noteText : "";
      const stale = !shown || shown[0] !== base || shown[1] !== other;
      const diffStale = mode === "difference" && (!diffShown || diffShown[0] !== base || diffShown[1] !== other);
      root.classList.toggle("xenodia-cv-stale", stale || diffStale);
      const t = `translate(${(0.5 - model.get("center_x") * z) * 100}%, ${(0.5 - model.get("center_y") * z) * 100}%) scale(${z})`;
      for (const img of [baseImg, otherImg, diffImg, secondImg]) img.style.transform = t;
      zoomLevel.textContent = `${Math.round(z * 100)}%`;
      root.classList.toggle("xenodia-cv-zoomed", z > 1);
      picks.replaceChildren(
        ...titles.map((title, i) => {
          const b = button("xenodia-cv-pick", i === base ? "thumb-tack" : "", title, null, `#${i + 1}`);
          b.classList.toggle("mod-active", i === other);
          b.classList.toggle("xenodia-cv-is-baseline", i === base);
          b.addEventListener("click", () => model.send({ event: "show", index: i }));
          return b;
        }),
      );
      picks.style.display = count > 2 ? "" : "none";
      maybeLarger();
    };

    // Pointer: drag the divider, pan, wheel zoom -------------------------------------------
    let drag = null;
    const where = (stage, e) => {
      const r = stage.getBoundingClientRect();
      return { fx: (e.clientX - r.left) / r.width, fy: (e.clientY - r.top) / r.height, r };
    };
    const listeners = [];
    const listen = (target, type, handler, options) => {
      target.addEventListener(type, handler, options);
      listeners.push(() => target.removeEventListener(type, handler, options));
    };
    for (const stage of [main, second]) {
      listen(stage, "pointerdown", (e) => {
        if (e.button !== 0) return;
        root.focus({ preventScroll: true });
        const { fx, r } = where(stage, e);
        const mode = model.get("mode");
        const z = model.get("zoom");
        if (mode === "swipe" && stage === main && (e.target.closest(".xenodia-cv-divider") || z <= 1)) {
          drag = { kind: "split" };
          setSplit(fx, true);
        } else if (z > 1) {
          drag = { kind: "pan", x: e.clientX, y: e.clientY, cx: model.get("center_x"), cy: model.get("center_y"), r };
        } else {
          if (mode === "flip") doFlip();  // a click on the picture flips as well
          return;
        }
        stage.setPointerCapture(e.pointerId);
        e.preventDefault();
      });
      listen(stage, "pointermove", (e) => {
        if (!drag) return;
        if (drag.kind === "split") setSplit(where(stage, e).fx, true);
        else {
          const z = model.get("zoom");
          const dx = (e.clientX - drag.x) / (drag.r.width * z);
          const dy = (e.clientY - drag.y) / (drag.r.height * z);
          setView(z, drag.cx - dx, drag.cy - dy, true);
        }
      });
      const end = () => {
        if (drag) save(false);
        drag = null;
      };
      listen(stage, "pointerup", end);
      listen(stage, "pointercancel", end);
      listen(
        stage,
        "wheel",
        (e) => {
          if (!e.ctrlKey && !root.contains(document.activeElement)) return;  // the page scrolls until the view is clicked
          e.preventDefault();
          const { fx, fy } = where(stage, e);
          zoomAt(Math.exp(-e.deltaY * 0.0015), fx, fy, true);
        },
        { passive: false },
      );
    }
    listen(root, "pointerdown", () => root.focus({ preventScroll: true }));

    // Keys, while the view has the focus (before JupyterLab's own shortcuts see them) ----------
    const keys = {
      ArrowLeft: () => model.send({ event: "step", by: -1 }),
      ArrowRight: () => model.send({ event: "step", by: 1 }),
      f: doFlip,
      F: doFlip,
      " ": doFlip,
      p: () => model.send({ event: "pin" }),
      "+": () => zoomAt(STEP),
      "=": () => zoomAt(STEP),
      "-": () => zoomAt(1 / STEP),
      0: () => setView(1, 0.5, 0.5),
      1: () => setMode(MODES[0][0]),
      2: () => setMode(MODES[1][0]),
      3: () => setMode(MODES[2][0]),
      4: () => setMode(MODES[3][0]),
    };
    listen(
      window,
      "keydown",
      (e) => {
        const action = keys[e.key];
        if (!action || e.ctrlKey || e.metaKey || e.altKey || !root.contains(document.activeElement)) return;
        if (e.key === " " && document.activeElement.tagName === "BUTTON") return;  // space presses a button
        e.preventDefault();
        e.stopPropagation();  // not also a notebook command
        action();
      },
      true,
    );

    model.on("change", draw);
    model.on("msg:custom", onMessage);
    draw();
    model.send({ event: "ready" });  // the kernel answers with the pictures
    return () => {
      clearTimeout(saveTimer);
      for (const remove of listeners) remove();
      model.off("change", draw);
      model.off("msg:custom", onMessage);
      forget();
    };
  },
};
