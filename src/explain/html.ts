/**
 * The build report as one self-contained HTML page: the report's JSON embedded in the page, and
 * inline CSS and script that draw the summary, an SVG timeline, the steps with their cache
 * reasons, the layers and the config. A Content-Security-Policy forbids every fetch, and every
 * text from the build (step names, file names) is set as text, never parsed as markup.
 */
import type { Report } from './report.ts';

const CSS = `
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1d232a;background:#f6f7f9}
header{background:#20303f;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}
header .sub{opacity:.8;font-size:13px;word-break:break-all}
main{padding:12px 24px}section{background:#fff;border:1px solid #dde2e8;border-radius:6px;margin:12px 0;padding:12px 16px}
h2{font-size:16px;margin:0 0 8px}table{border-collapse:collapse;width:100%}
td,th{text-align:left;padding:3px 8px;border-bottom:1px solid #eef0f3;vertical-align:top;font-size:13px}
th{color:#5a6572;font-weight:600}.num{text-align:right;font-variant-numeric:tabular-nums}
.tot{display:flex;flex-wrap:wrap;gap:12px}.tot div{background:#f0f3f7;border-radius:6px;padding:6px 12px}
.tot b{display:block;font-size:18px}.hit{color:#1f7a3a}.miss{color:#a35200}.err{color:#b3261e}
.why{color:#5a6572;font-size:12px}td.why{width:40%}svg text{font:11px system-ui,sans-serif}
pre{background:#f0f3f7;padding:8px;overflow:auto;font-size:12px}
.legend span{display:inline-block;width:12px;height:10px;margin:0 4px 0 12px;vertical-align:middle}
details summary{cursor:pointer}`;

const SCRIPT = `
(function(){
var R=JSON.parse(document.getElementById('report-data').textContent);
function el(t,a,k){var e=document.createElement(t);if(a)for(var n in a)e.setAttribute(n,a[n]);
 (k||[]).forEach(function(c){e.appendChild(typeof c==='string'?document.createTextNode(c):c)});return e}
function svg(t,a,k){var e=document.createElementNS('http://www.w3.org/2000/svg',t);for(var n in a)e.setAttribute(n,a[n]);
 (k||[]).forEach(function(c){e.appendChild(typeof c==='string'?document.createTextNode(c):c)});return e}
function bytes(n){var u=['B','kB','MB','GB','TB'],i=0;while(n>=1000&&i<u.length-1){n/=1000;i++}return (i?n.toFixed(2):n)+u[i]}
function secs(ms){return (ms/1000).toFixed(2)+'s'}
function sec(title,id){var s=el('section',{id:id},[el('h2',null,[title])]);document.querySelector('main').appendChild(s);return s}
var b=R.build,t=R.totals;
document.getElementById('title').textContent='kiln build '+b.id.slice(0,12)+' \\u2014 '+b.result;
document.getElementById('sub').textContent=b.context+' \\u00b7 '+b.dockerfile+(b.target?' \\u00b7 target '+b.target:'')+
 (b.platforms.length?' \\u00b7 '+b.platforms.join(', '):'')+' \\u00b7 '+new Date(b.started).toISOString();
var s=sec('Totals','totals');var tot=el('div',{'class':'tot'});s.appendChild(tot);
[['duration',secs(t.durationMs)],['steps',t.steps],['cache hits',t.hits],['misses',t.misses],
 ['cache ratio',Math.round(t.cacheRatio*100)+'%'],['layers',bytes(t.layerBytes)],['files',bytes(t.contentBytes)],
 ['wasted',bytes(t.wastedBytes)]].forEach(function(p){tot.appendChild(el('div',null,[el('b',null,[String(p[1])]),p[0]]))});
if(b.error)s.appendChild(el('pre',{'class':'err'},[b.error]));
R.notes.forEach(function(n){s.appendChild(el('p',{'class':'why'},[n]))});
// Timeline: waiting for inputs or a slot (grey), running (blue; green cached, red failed), tasks (orange).
s=sec('Timeline','timeline');
s.appendChild(el('div',{'class':'legend why'},[el('span',{style:'background:#c9d1da'}),'queued',el('span',{style:'background:#3d7dd8'}),'running',
 el('span',{style:'background:#3aa35b'}),'cached',el('span',{style:'background:#f29b38'}),'exporting / task',
 el('span',{style:'background:#fff;border:2px solid #20303f'}),'critical path']));
var W=1000,L=330,RH=20,total=Math.max(1,t.durationMs),sc=(W-L-10)/total,H=R.steps.length*RH+24;
var g=svg('svg',{width:'100%',viewBox:'0 0 '+W+' '+H,role:'img','aria-label':'build timeline'});
for(var k=0;k<=4;k++){var x=L+k*(W-L-10)/4;g.appendChild(svg('line',{x1:x,x2:x,y1:0,y2:H-18,stroke:'#eef0f3'}));
 g.appendChild(svg('text',{x:x,y:H-4,'text-anchor':'middle',fill:'#5a6572'},[secs(total*k/4)]))}
R.steps.forEach(function(st,i){var y=i*RH+2;
 var name=st.name.length>52?st.name.slice(0,51)+'\\u2026':st.name;
 g.appendChild(svg('text',{x:4,y:y+13,fill:st.critical?'#1d232a':'#5a6572','font-weight':st.critical?'600':'400'},[name]));
 if(st.start>st.ready)g.appendChild(svg('rect',{x:L+st.ready*sc,y:y+3,width:Math.max(1,(st.start-st.ready)*sc),height:12,fill:'#c9d1da'}));
 var col=st.error?'#b3261e':st.cached?'#3aa35b':st.kind==='export'?'#f29b38':'#3d7dd8';
 var r=svg('rect',{x:L+st.start*sc,y:y+2,width:Math.max(2,(st.end-st.start)*sc),height:14,fill:col,
  stroke:st.critical?'#20303f':'none','stroke-width':st.critical?1.5:0,'class':'bar'},[svg('title',null,[st.name+' \\u2014 '+secs(st.end-st.start)+(st.reason?'\\n'+st.reason:'')])]);
 g.appendChild(r);
 (st.tasks||[]).forEach(function(tk){var a=tk.started-b.started,e=(tk.completed||st.completed||b.finished)-b.started;
  g.appendChild(svg('rect',{x:L+a*sc,y:y+6,width:Math.max(1,(e-a)*sc),height:6,fill:'#f29b38'},[svg('title',null,[tk.name])]))})});
s.appendChild(g);
// Steps with their cache outcome.
s=sec('Steps','steps');var tb=el('table',null,[el('tr',null,[el('th',null,['#']),el('th',null,['step']),el('th',null,['cache']),el('th',{'class':'num'},['time']),el('th',null,['why'])])]);
R.steps.forEach(function(st,i){var c=st.error?['err','error']:st.cached?['hit','CACHED']:st.reason?['miss','miss']:['','ran'];
 var why=st.error||st.reason||(st.origin?'from build '+st.origin.build.slice(0,12)+' ('+new Date(st.origin.at).toISOString()+')':'');
 tb.appendChild(el('tr',{'class':'step-row'},[el('td',{'class':'num'},[String(i+1)]),el('td',null,[st.name]),el('td',{'class':c[0]},[c[1]]),
  el('td',{'class':'num'},[secs(st.end-st.start)]),el('td',{'class':'why'},[why])]))});
s.appendChild(tb);
// Layers per platform, as dive shows them.
s=sec('Layers','layers');
if(!R.images.length)s.appendChild(el('p',{'class':'why'},['no image layers']));
R.images.forEach(function(im){s.appendChild(el('h2',null,[im.platform+'  '+im.manifest.slice(0,19)]));
 var lt=el('table',null,[el('tr',null,[el('th',null,['#']),el('th',null,['created by']),el('th',{'class':'num'},['size']),
  el('th',{'class':'num'},['files']),el('th',{'class':'num'},['wasted']),el('th',null,['largest files, overwritten, deleted'])])]);
 im.layers.forEach(function(l,i){var d=el('details',l.wasted?{open:''}:null);d.appendChild(el('summary',null,[(l.largest[0]?l.largest[0].path+' '+bytes(l.largest[0].size):'no files')+
  (l.overwritten.length||l.deleted.length?' \\u00b7 '+l.overwritten.length+' overwritten, '+l.deleted.length+' deleted':'')]));
  function list(title,fs){if(!fs.length)return;d.appendChild(el('div',{'class':'why'},[title]));var ul=el('ul');
   fs.forEach(function(f){ul.appendChild(el('li',null,[f.path+' '+bytes(f.size)+(f.layer!==undefined?' (layer '+(f.layer+1)+')':'')]))});d.appendChild(ul)}
  list('largest files',l.largest);list('overwrites from lower layers',l.overwritten);list('deletes from lower layers',l.deleted);
  lt.appendChild(el('tr',{'class':'layer-row'},[el('td',{'class':'num'},[String(i+1)]),el('td',null,[(l.createdBy||'').slice(0,120)]),
   el('td',{'class':'num'},[bytes(l.size)]),el('td',{'class':'num'},[bytes(l.contentBytes)]),el('td',{'class':'num'+(l.wasted?' miss':'')},[bytes(l.wasted)]),el('td',null,[d])]))});
 s.appendChild(lt);
 s.appendChild(el('details',null,[el('summary',null,['image config ('+im.platform+')']),el('pre',{'class':'config'},[JSON.stringify(im.config.config||{},null,2)])]))});
document.body.setAttribute('data-rendered','true');
})();`;

/** One HTML page holding the whole report. */
export function renderHtml(r: Report): string {
  // `<` escaped so no text of the build can close the script element.
  const data = JSON.stringify(r)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>kiln build report ${r.build.id.slice(0, 12)}</title><style>${CSS}</style></head>
<body><header><h1 id="title">kiln build report</h1><div class="sub" id="sub"></div></header>
<main><noscript>This report draws itself with a script; its data is in the JSON below.</noscript></main>
<script type="application/json" id="report-data">${data}</script>
<script>${SCRIPT}</script></body></html>
`;
}
