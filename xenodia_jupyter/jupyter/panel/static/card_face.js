export default{render({model:m,el}){el.classList.add("xenodia-face");
const t=document.createElement("div"),i=document.createElement("img"),c=document.createElement("div"),
r=document.createElement("div");t.className="xenodia-thumb";t.append(i);r.className="xenodia-actions";
i.addEventListener("click",()=>m.send({event:"action",name:"open"}));
c.addEventListener("click",e=>{const a=e.target.closest("[data-action]");if(a){e.preventDefault();m.send({event:"action",name:a.dataset.action})}});
const d=()=>{const s=m.get("size_px");i.src=m.get("src");i.title=m.get("title");i.alt=m.get("title").slice(0,40);
i.style.cssText=`width:${s}px;height:${s}px;object-fit:contain;display:block`;c.innerHTML=m.get("caption");
r.replaceChildren(...m.get("actions").map(a=>{const b=document.createElement("button");
b.className=`jupyter-button widget-button ${a.css}`+(a.style?` mod-${a.style}`:"")+(a.active?" mod-active":"");
b.title=a.tooltip;b.setAttribute("aria-label",a.tooltip);b.innerHTML=`<i class="fa fa-${a.icon}"></i>`;
b.addEventListener("click",()=>m.send({event:"action",name:a.name}));return b}))};
m.on("change",d);d();el.append(t,c,r);return()=>m.off("change",d)}}