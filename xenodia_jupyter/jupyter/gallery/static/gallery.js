// The gallery (view.py): a search box, a grid of cards, a selection, "More",
// and a lightbox, all inside this one widget.  Its state holds only small card
// records; each picture is asked of the kernel when its card comes near the
// screen, and arrives as a custom message whose buffer is the JPEG.

const make = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
};

const textButton = (cls, label, tip) => {
  const b = make("button", `jupyter-button widget-button ${cls}`, label);
  b.type = "button";
  b.title = tip;
  return b;
};

const iconButton = (cls, icon, tip) => {
  const b = make("button", `jupyter-button widget-button xg-icon ${cls}`);
  b.type = "button";
  b.title = tip;
  b.setAttribute("aria-label", tip);
  const i = make("i", `fa fa-${icon}`);
  i.setAttribute("aria-hidden", "true");
  b.append(i);
  return b;
};

const jpegUrl = (buffer) => URL.createObjectURL(new Blob([buffer], { type: "image/jpeg" }));

function rateButtons(onRate) {
  const star = iconButton("xg-star", "star-o", "Star (kept in the journal)");
  const reject = iconButton("xg-reject", "ban", "Reject (kept in the journal)");
  let rating = 0;
  star.addEventListener("click", (e) => { e.stopPropagation(); onRate(rating === 1 ? 0 : 1); });
  reject.addEventListener("click", (e) => { e.stopPropagation(); onRate(rating === -1 ? 0 : -1); });
  const show = (value) => {
    rating = value;
    star.firstChild.className = `fa fa-${value === 1 ? "star" : "star-o"}`;
    star.classList.toggle("mod-warning", value === 1);
    star.title = value === 1 ? "Starred: click to clear" : "Star (kept in the journal)";
    reject.classList.toggle("mod-danger", value === -1);
    reject.title = value === -1 ? "Rejected: click to clear" : "Reject (kept in the journal)";
  };
  return { star, reject, show };
}

function lineageLink(onClick) {
  const link = make("button", "xg-lineage");
  link.type = "button";
  link.addEventListener("click", (e) => { e.stopPropagation(); onClick(); });
  const show = (parent, prompt) => {
    link.hidden = !parent;
    link.textContent = parent ? `remix of “${prompt}”` : "";
    link.title = parent ? `Show the result this one was remixed from (${parent})` : "";
  };
  return { link, show };
}

// One card: the picture (click: select; shift-click: a range; double-click: the
// lightbox), the prompt, its facts, "remix of …", and open / star / reject.
function makeCard(record, ctx) {
  const card = make("div", "xg-card");
  card.dataset.i = record.i;
  const thumb = make("div", "xg-thumb");
  const img = make("img");
  img.alt = record.prompt.slice(0, 60);
  img.draggable = false;
  const check = make("span", "xg-check");
  check.innerHTML = '<i class="fa fa-check" aria-hidden="true"></i>';
  thumb.append(img, check);
  const prompt = make("div", "xg-prompt");
  const caption = make("div", "xg-caption");
  const lineage = lineageLink(() => ctx.send({ event: "lineage", parent: card._record.parent, where: "card" }));
  const actions = make("div", "xg-actions");
  const open = iconButton("xg-open", "expand", "Open large (or double-click the picture)");
  open.addEventListener("click", (e) => { e.stopPropagation(); ctx.open(card._record.i); });
  const rate = rateButtons((rating) => ctx.send({ event: "rate", i: card._record.i, rating }));
  actions.append(open, rate.star, rate.reject);
  card.append(thumb, prompt, caption, lineage.link, actions);
  card.addEventListener("click", (e) => ctx.pick(card._record.i, e.shiftKey));
  card.tabIndex = 0;  // Space or Enter selects, as a click does; o opens the lightbox
  card.addEventListener("keydown", (e) => {
    if (e.target !== card) return;
    if (e.key === " " || e.key === "Enter") ctx.pick(card._record.i, e.shiftKey);
    else if (e.key === "o") ctx.open(card._record.i);
    else return;
    e.preventDefault();
    e.stopPropagation();  // not also a notebook shortcut
  });
  thumb.addEventListener("dblclick", (e) => { e.preventDefault(); ctx.open(card._record.i); });
  card.update = (r) => {
    card._record = r;
    prompt.textContent = r.prompt;
    prompt.title = r.prompt;
    caption.textContent = r.caption;
    lineage.show(r.parent, r.parent_prompt);
    rate.show(r.rating);
    card.classList.toggle("xg-starred", r.rating === 1);
    card.classList.toggle("xg-rejected", r.rating === -1);
  };
  card.picture = (url) => { img.src = url; card.classList.remove("xg-waiting"); };
  card.classList.add("xg-waiting");
  card.update(record);
  return card;
}

// The lightbox: one result large over the gallery; Esc or a click outside closes
// it, the arrow keys step through the filtered results.
function makeLightbox(ctx) {
  const box = make("div", "xg-lightbox");
  box.hidden = true;
  const panel = make("div", "xg-lightbox-panel");
  const head = make("div", "xg-lightbox-head");
  const position = make("span", "xg-position");
  const previous = iconButton("xg-previous", "chevron-left", "Previous (←)");
  const next = iconButton("xg-next", "chevron-right", "Next (→)");
  const close = iconButton("xg-close", "times", "Close (Esc)");
  const rate = rateButtons((rating) => current.i >= 0 && ctx.send({ event: "rate", i: current.i, rating }));
  head.append(position, make("span", "xg-grow"), rate.star, rate.reject, previous, next, close);
  const prompt = make("div", "xg-lightbox-prompt");
  const lineage = lineageLink(() => ctx.send({ event: "lineage", parent: current.parent, where: "lightbox" }));
  const facts = make("table", "xg-facts");
  const img = make("img", "xg-lightbox-image");
  panel.append(head, prompt, lineage.link, facts, img);
  box.append(panel);
  let current = { token: 0, i: -1, parent: "" };
  let preview = null;
  const dropPreview = () => { if (preview) URL.revokeObjectURL(preview); preview = null; };
  previous.addEventListener("click", () => ctx.send({ event: "step", i: current.i, by: -1 }));
  next.addEventListener("click", () => ctx.send({ event: "step", i: current.i, by: 1 }));
  close.addEventListener("click", () => hide());
  box.addEventListener("click", (e) => { if (e.target === box) hide(); });
  const hide = () => {
    box.hidden = true;
    ctx.opened(false);
    dropPreview();
    img.removeAttribute("src");
    current = { token: 0, i: -1, parent: "" };
  };
  const show = () => {
    box.hidden = false;
    ctx.opened(true);
    panel.scrollIntoView({ block: "nearest" });
  };
  const begin = (i) => {  // a card was opened: its details and picture follow
    current = { token: -1, i, parent: "" };
    detailPicture(i);
    show(i);
  };
  const detailPicture = (i) => {
    dropPreview();
    if (ctx.thumbnail(i)) img.src = ctx.thumbnail(i);
    else img.removeAttribute("src");
  };
  const detail = (d) => {
    current = { token: d.token, i: d.i, parent: d.parent };
    detailPicture(d.i);
    position.textContent = d.position;
    prompt.textContent = d.prompt;
    lineage.show(d.parent, d.parent_prompt);
    facts.replaceChildren(...d.facts.map(([k, v]) => {
      const row = make("tr");
      row.append(make("td", "xg-fact-name", k), make("td", "xg-fact-value", v));
      return row;
    }));
    rate.show(d.rating);
    for (const b of [rate.star, rate.reject]) b.hidden = d.i < 0;  // not in this gallery
    if (box.hidden) show();
  };
  const picture = (token, buffer) => {
    if (token !== current.token || box.hidden) return;
    dropPreview();
    preview = jpegUrl(buffer);
    img.src = preview;
  };
  const rated = (i, rating) => { if (i === current.i) rate.show(rating); };
  const onKey = (e) => {
    if (box.hidden) return;
    const step = { ArrowLeft: -1, ArrowRight: 1 }[e.key];
    if (e.key !== "Escape" && !step) return;
    e.preventDefault();
    e.stopPropagation();  // not also a move between cells
    if (step) ctx.send({ event: "step", i: current.i, by: step });
    else hide();
  };
  document.addEventListener("keydown", onKey, true);
  const destroy = () => { document.removeEventListener("keydown", onKey, true); dropPreview(); };
  return { el: box, begin, detail, picture, rated, hide, destroy, get open() { return !box.hidden; } };
}

export default {
  render({ model, el }) {
    el.classList.add("xenodia-gallery-widget");
    const send = (content) => model.send(content);
    const pictures = new Map();  // item index -> object URL of its thumbnail
    const asked = new Set();  // thumbnails asked for, not yet answered
    const cards = new Map();  // item index -> its card element
    let queue = [];
    let anchor = null;  // the card last clicked, for shift-click
    let waitingForMore = false;

    // The bar: search, counts, select all / clear, order, compare.
    const bar = make("div", "xg-bar");
    const search = make("input", "xg-search");
    search.type = "search";
    search.placeholder = 'Filter: words, "a phrase"';
    search.setAttribute("aria-label", "Filter the gallery");
    search.value = model.get("query");
    let typing = null;
    search.addEventListener("input", () => {
      clearTimeout(typing);
      typing = setTimeout(() => { model.set("query", search.value); model.save_changes(); }, 150);
    });
    search.addEventListener("keydown", (e) => e.stopPropagation());  // typing is not a notebook shortcut
    const count = make("span", "xg-count");
    const selectAll = textButton("xg-select-all", "Select all", "Select every result the filter shows");
    const clear = textButton("xg-clear", "Clear", "Clear the selection");
    const order = make("select", "xg-order");
    order.title = "Order of the cards";
    const compare = textButton("xg-compare", "Compare", "Compare the selected results (2 to 4)");
    selectAll.addEventListener("click", () => send({ event: "select_all" }));
    clear.addEventListener("click", () => send({ event: "clear" }));
    compare.addEventListener("click", () => send({ event: "compare" }));
    order.addEventListener("change", () => { model.set("order", order.value); model.save_changes(); });
    bar.append(search, count, selectAll, clear, order, compare);
    const note = make("div", "xg-note");
    const grid = make("div", "xg-grid");
    const more = textButton("xg-more", "More", "Show the next page of results");
    more.addEventListener("click", () => { waitingForMore = true; send({ event: "more" }); });
    const end = make("div", "xg-end");

    // Thumbnails, asked for as their cards come near the screen.
    const flush = () => { if (queue.length) send({ event: "thumbs", items: queue.splice(0) }); };
    const want = (i) => {
      if (pictures.has(i) || asked.has(i)) return;
      asked.add(i);
      if (queue.push(i) === 1) setTimeout(flush, 30);
    };
    const near = new IntersectionObserver((entries) => {
      for (const e of entries) if (e.isIntersecting) want(Number(e.target.dataset.i));
    }, { rootMargin: "400px" });

    // The next page when the end of the grid scrolls into view (not when it is
    // in view from the start: then "More" is there to click).
    let endWasHidden = false;
    const atEnd = new IntersectionObserver((entries) => {
      for (const e of entries) {
        if (!e.isIntersecting) { endWasHidden = true; continue; }
        if (endWasHidden && !waitingForMore && model.get("cards").length < model.get("matched")) {
          waitingForMore = true;
          endWasHidden = false;
          send({ event: "more" });
        }
      }
    });

    const isSelected = (i) => model.get("selection").includes(i);
    const setSelection = (list) => { model.set("selection", [...new Set(list)].sort((a, b) => a - b)); model.save_changes(); };
    const ctx = {
      send,
      thumbnail: (i) => pictures.get(i),
      open: (i) => { lightbox.begin(i); send({ event: "open", i }); },
      opened: (on) => el.classList.toggle("xg-lightbox-open", on),
      pick: (i, range) => {
        const chosen = model.get("selection");
        const shown = model.get("cards").map((r) => r.i);
        if (range && anchor !== null && shown.includes(anchor)) {
          const [a, b] = [shown.indexOf(anchor), shown.indexOf(i)].sort((x, y) => x - y);
          setSelection([...chosen, ...shown.slice(a, b + 1)]);
        } else {
          setSelection(isSelected(i) ? chosen.filter((j) => j !== i) : [...chosen, i]);
        }
        anchor = i;
      },
    };
    const lightbox = makeLightbox(ctx);

    const drawCards = () => {
      const records = model.get("cards");
      const keep = new Set(records.map((r) => r.i));
      for (const [i, card] of cards) if (!keep.has(i)) { near.unobserve(card); cards.delete(i); }
      const ordered = records.map((r) => {
        let card = cards.get(r.i);
        if (!card) {
          card = makeCard(r, ctx);
          cards.set(r.i, card);
          if (pictures.has(r.i)) card.picture(pictures.get(r.i));
          near.observe(card);
        } else {
          card.update(r);
        }
        return card;
      });
      grid.replaceChildren(...ordered);
      waitingForMore = false;
      drawSelection();
    };
    const drawSelection = () => {
      const chosen = new Set(model.get("selection"));
      for (const [i, card] of cards) {
        card.classList.toggle("xg-selected", chosen.has(i));
        card.setAttribute("aria-selected", chosen.has(i) ? "true" : "false");
      }
      const [shown, matched, total] = [model.get("cards").length, model.get("matched"), model.get("total")];
      const found = model.get("query").trim() ? `${matched} of ${total} match` : `${total} result${total === 1 ? "" : "s"}`;
      count.textContent = `${found} · ${chosen.size} selected`;
      const n = chosen.size;
      compare.hidden = !model.get("can_compare");
      compare.disabled = n < 2 || n > 4;
      compare.title = compare.disabled ? `Select 2 to 4 results to compare (${n} selected)` : `Compare the ${n} selected results`;
      clear.disabled = n === 0;
      more.hidden = shown >= matched;
      more.textContent = `More (${matched - shown} more)`;
      grid.classList.toggle("xg-empty", matched === 0);
      grid.dataset.empty = total === 0 ? "No results to show." : "Nothing matches the filter.";
    };
    const drawOrders = () => {
      order.replaceChildren(...model.get("orders").map((name) => {
        const o = make("option", null, name === "given" ? "as given" : name === "newest" ? "newest first" : "best score first");
        o.value = name;
        return o;
      }));
      order.value = model.get("order");
      order.hidden = model.get("orders").length < 2;
    };
    const drawQuery = () => { if (document.activeElement !== search) search.value = model.get("query"); };
    const drawNote = () => { note.textContent = model.get("note"); note.hidden = !model.get("note"); };

    const onMessage = (msg, buffers) => {
      if (msg.event === "thumb") {
        asked.delete(msg.i);
        const card = cards.get(msg.i);
        if (msg.missing) { if (card) card.classList.add("xg-missing"); return; }
        const url = jpegUrl(buffers[0]);
        pictures.set(msg.i, url);
        if (card) card.picture(url);
      } else if (msg.event === "detail") {
        lightbox.detail(msg);
      } else if (msg.event === "preview") {
        if (!msg.missing) lightbox.picture(msg.token, buffers[0]);
      } else if (msg.event === "rated") {
        lightbox.rated(msg.i, msg.rating);
      } else if (msg.event === "reveal") {
        const card = cards.get(msg.i);
        if (!card) return;
        card.scrollIntoView({ block: "center", behavior: "smooth" });
        card.classList.remove("xg-flash");
        void card.offsetWidth;  // restart the animation
        card.classList.add("xg-flash");
      }
    };

    model.on("change:cards", drawCards);
    model.on("change:selection", drawSelection);
    model.on("change:matched", drawSelection);
    model.on("change:query", drawQuery);
    model.on("change:orders", drawOrders);
    model.on("change:order", drawOrders);
    model.on("change:note", drawNote);
    model.on("msg:custom", onMessage);
    el.append(bar, note, grid, more, end, lightbox.el);
    drawOrders();
    drawNote();
    drawCards();
    atEnd.observe(end);
    return () => {
      near.disconnect();
      atEnd.disconnect();
      lightbox.destroy();
      clearTimeout(typing);
      model.off("change:cards", drawCards);
      model.off("change:selection", drawSelection);
      model.off("change:matched", drawSelection);
      model.off("change:query", drawQuery);
      model.off("change:orders", drawOrders);
      model.off("change:order", drawOrders);
      model.off("change:note", drawNote);
      model.off("msg:custom", onMessage);
      for (const url of pictures.values()) URL.revokeObjectURL(url);
    };
  },
};
