
const CHUNK = CHUNK_BYTES;
const LIMIT = LIMIT_BYTES;
let sent = 0;

export default {
  render({ model, el }) {
    const zone = document.createElement("div");
    zone.className = "xenodia-dropzone";
    zone.tabIndex = 0;
    zone.title = "Drop image files here, or paste an image while the panel has the focus";
    zone.innerHTML = '<i class="fa fa-download" aria-hidden="true"></i> Drop images here, or paste one (Ctrl/Cmd+V)';
    const send = async (files) => {
      for (const file of files) {
        const name = file.name || "pasted.png";
        if (file.size > LIMIT) {
          model.send({ event: "refused", name, size: file.size });
          continue;
        }
        const buffer = await file.arrayBuffer();
        const id = `${Date.now()}-${sent++}`;
        const count = Math.max(1, Math.ceil(buffer.byteLength / CHUNK));
        for (let i = 0; i < count; i++) {
          model.send({ event: "part", id, name, index: i, count, size: buffer.byteLength }, undefined, [buffer.slice(i * CHUNK, (i + 1) * CHUNK)]);
        }
      }
      model.send({ event: "end" });
    };
    const over = (e) => { e.preventDefault(); zone.classList.add("xenodia-dragging"); };
    const leave = () => zone.classList.remove("xenodia-dragging");
    const drop = (e) => {
      e.preventDefault();
      leave();
      const files = [...(e.dataTransfer ? e.dataTransfer.files : [])];
      if (files.length) send(files);
    };
    const paste = (e) => {
      const panel = el.closest(".xenodia-panel");
      if (!panel || !(e.target instanceof Node) || !panel.contains(e.target)) return;
      const files = [...(e.clipboardData ? e.clipboardData.files : [])];
      if (!files.length) return;  // text pastes into the prompt as usual
      e.preventDefault();
      send(files);
    };
    zone.addEventListener("dragover", over);
    zone.addEventListener("dragleave", leave);
    zone.addEventListener("drop", drop);
    document.addEventListener("paste", paste);
    el.appendChild(zone);
    return () => document.removeEventListener("paste", paste);
  },
};
