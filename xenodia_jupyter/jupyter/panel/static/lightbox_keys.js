// The lightbox as an overlay: Esc closes it, the arrow keys step through the
// results, a click on the backdrop (outside the picture and its words) closes it.
// Each sends a message to the kernel, which does what the buttons do.
export default {
  render({ model, el }) {
    const box = () => el.closest(".xenodia-lightbox");
    const open = () => { const b = box(); return !!b && b.offsetParent !== null; };
    const keys = { Escape: "close", ArrowLeft: "previous", ArrowRight: "next" };
    const onKey = (event) => {
      const action = keys[event.key];
      if (!action || !open()) return;
      event.preventDefault();
      event.stopPropagation();  // not also a move between cells
      model.send({ action });
    };
    const onClick = (event) => { if (event.target === box()) model.send({ action: "close" }); };
    document.addEventListener("keydown", onKey, true);
    document.addEventListener("click", onClick, true);
    return () => {
      document.removeEventListener("keydown", onKey, true);
      document.removeEventListener("click", onClick, true);
    };
  },
};
