// The ranker: two results side by side and four ways to judge them.  A button
// or a key (when the ranker has focus: ← left, → right, ↓ tie, space skip) sends
// {choice} to the kernel, which records it and sends the next pair.  The two
// pictures come as a custom message with two JPEG buffers, never as widget
// state, so a saved notebook keeps only the words.
const KEYS = { ArrowLeft: "left", ArrowRight: "right", ArrowDown: "tie", " ": "skip" };
const BUTTONS = [
  ["left", "← Left is better", "Left is better (← key)"],
  ["tie", "↓ Tie", "Both are as good (↓ key)"],
  ["skip", "Skip", "Decide later (space bar)"],
  ["right", "Right is better →", "Right is better (→ key)"],
];

const make = (tag, className, text) => {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
};

export default {
  render({ model, el }) {
    const root = make("div", "xenodia-ranker");
    root.tabIndex = 0;
    root.setAttribute("role", "group");
    root.setAttribute("aria-label", "Ranker: which result is better?");
    const head = make("div", "xenodia-ranker-head");
    const progress = make("b", "xenodia-ranker-progress");
    const hint = make("span", "xenodia-ranker-hint", "Click here, then ← left · → right · ↓ tie · space skip");
    head.append(progress, hint);
    const shared = make("div", "xenodia-ranker-shared");
    const pair = make("div", "xenodia-ranker-pair");
    const sides = ["left", "right"].map((side) => {
      const figure = make("figure", `xenodia-ranker-side xenodia-ranker-${side}`);
      const frame = make("div", "xenodia-ranker-picture");
      const img = make("img");
      img.alt = `${side} result`;
      frame.append(img);
      const caption = make("figcaption");
      figure.append(frame, caption);
      figure.addEventListener("click", () => root.focus());
      pair.append(figure);
      return { img, caption, url: null };
    });
    const note = make("div", "xenodia-ranker-note");
    const row = make("div", "xenodia-ranker-buttons");
    const buttons = BUTTONS.map(([choice, label, tooltip]) => {
      const button = make("button", `jupyter-button widget-button xenodia-ranker-choose-${choice}`, label);
      button.title = tooltip;
      button.addEventListener("click", () => { model.send({ choice }); root.focus(); });
      row.append(button);
      return button;
    });
    const status = make("div", "xenodia-ranker-status");
    root.append(head, shared, pair, note, row, status);
    el.append(root);

    const setPicture = (side, bytes) => {
      if (side.url) URL.revokeObjectURL(side.url);
      side.url = bytes && bytes.byteLength ? URL.createObjectURL(new Blob([bytes], { type: "image/jpeg" })) : null;
      if (side.url) side.img.src = side.url; else side.img.removeAttribute("src");
    };
    const draw = () => {
      const done = model.get("done");
      progress.textContent = model.get("progress");
      shared.textContent = model.get("shared");
      shared.style.display = model.get("shared") ? "" : "none";
      note.textContent = model.get("note");
      status.textContent = model.get("status");
      root.classList.toggle("xenodia-ranker-finished", done);
      pair.style.display = done ? "none" : "";
      hint.style.display = done ? "none" : "";
      buttons.forEach((b) => { b.disabled = done; });
      const words = model.get("sides");
      sides.forEach((side, i) => {
        const info = words[i] || { prompt: "", facts: [] };
        const prompt = make("div", "xenodia-ranker-prompt", info.prompt);
        prompt.title = info.prompt;
        const facts = make("div", "xenodia-ranker-facts");
        for (const [name, value] of info.facts) {
          const fact = make("span", "xenodia-ranker-fact");
          fact.append(make("span", "xenodia-ranker-fact-name", `${name} `), make("b", "", value));
          facts.append(fact);
        }
        side.caption.replaceChildren(...(info.prompt ? [prompt] : []), facts);
      });
    };
    const onPairChange = () => { sides.forEach((side) => setPicture(side, null)); };
    const onMessage = (message, buffers) => {
      if (!message || message.kind !== "previews" || message.pair_key !== model.get("pair_key")) return;
      sides.forEach((side, i) => setPicture(side, buffers[i]));
    };
    const onKey = (event) => {
      const choice = KEYS[event.key];
      if (!choice || model.get("done") || !root.contains(document.activeElement)) return;
      if (event.target instanceof HTMLButtonElement && event.key === " ") return; // a focused button clicks itself
      event.preventDefault();
      event.stopPropagation(); // not also a move between cells
      model.send({ choice });
    };
    model.on("change", draw);
    model.on("change:pair_key", onPairChange);
    model.on("msg:custom", onMessage);
    window.addEventListener("keydown", onKey, true); // before the front end's own shortcuts (↓ moves between cells)
    draw();
    model.send({ want: "previews" });
    return () => {
      model.off("change", draw);
      model.off("change:pair_key", onPairChange);
      model.off("msg:custom", onMessage);
      window.removeEventListener("keydown", onKey, true);
      sides.forEach((side) => setPicture(side, null));
    };
  },
};
