// Renders job summaries the way GitHub shows them, for a person to look at:
//   node scripts/render-summary.mjs OUT.png FRAGMENT.html [OUT.png FRAGMENT.html ...]
// Each FRAGMENT.html is a summary's GitHub-flavoured Markdown already turned into HTML by
// cmark-gfm (GitHub's own fork of cmark; scripts/render-health-chart.sh does that). This
// script does what github.com adds on top: alerts (`> [!WARNING]`) as coloured boxes,
// `mermaid` code blocks drawn by Mermaid, GitHub's Markdown CSS, in a 1000 px pane; then
// headless Chromium takes a screenshot of the whole page (`<details>` folded, as GitHub
// shows them).
//
// REDELIVER_RENDER_MODULES names a node_modules folder with puppeteer, mermaid and
// github-markdown-css; CHROMIUM the browser (Debian's).
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, dirname } from 'node:path';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';

const modules = process.env.REDELIVER_RENDER_MODULES;
if (!modules) {
    console.error('error: REDELIVER_RENDER_MODULES must name a node_modules folder with puppeteer, mermaid and github-markdown-css');
    process.exit(2);
}
const require = createRequire(join(modules, 'resolve-from-here.js'));
const { default: puppeteer } = await import(pathToFileURL(require.resolve('puppeteer')).href);
const mermaidJs = pathToFileURL(join(dirname(require.resolve('mermaid/package.json')), 'dist/mermaid.min.js')).href;
const css = pathToFileURL(join(dirname(require.resolve('github-markdown-css/package.json')), 'github-markdown-light.css')).href;

const ALERTS = { NOTE: 'Note', TIP: 'Tip', IMPORTANT: 'Important', WARNING: 'Warning', CAUTION: 'Caution' };

// What github.com does to the HTML of GitHub-flavoured Markdown: alerts and Mermaid.
function githubify(html) {
    return html
        .replace(/<blockquote>\n<p>\[!(NOTE|TIP|IMPORTANT|WARNING|CAUTION)\]\n([\s\S]*?)<\/blockquote>/g,
            (_, kind, body) => `<div class="markdown-alert markdown-alert-${kind.toLowerCase()}">`
                + `<p class="markdown-alert-title">${ALERTS[kind]}</p><p>${body}</div>`)
        .replace(/<pre lang="mermaid"><code>([\s\S]*?)<\/code><\/pre>/g, '<pre class="mermaid">$1</pre>');
}

function page(fragment) {
    return `<!doctype html>
<html><head><meta charset="utf-8">
<link rel="stylesheet" href="${css}">
<style>
  body { margin: 0; background: #f6f8fa; }
  .pane { width: 1000px; box-sizing: border-box; margin: 16px; padding: 24px 32px;
          background: #fff; border: 1px solid #d0d7de; border-radius: 6px; }
  pre.mermaid { background: #fff; padding: 0; text-align: center; }
</style>
<script src="${mermaidJs}"></script>
</head><body><div class="pane"><article class="markdown-body">
${githubify(fragment)}
</article></div>
<script>
  mermaid.initialize({ startOnLoad: false });
  mermaid.run({ querySelector: 'pre.mermaid' })
    .then(() => { window.rendered = 'ok'; }, (error) => { window.rendered = 'error: ' + error; });
</script>
</body></html>`;
}

const args = process.argv.slice(2);
if (args.length === 0 || args.length % 2 !== 0) {
    console.error('usage: node scripts/render-summary.mjs OUT.png FRAGMENT.html [...]');
    process.exit(2);
}
const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: 'shell',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
        '--allow-file-access-from-files'],
});
const work = mkdtempSync(join(tmpdir(), 'summary-'));
let failed = false;
try {
    for (let index = 0; index < args.length; index += 2) {
        const [out, fragment] = [args[index], args[index + 1]];
        const file = join(work, `page-${index}.html`);
        writeFileSync(file, page(readFileSync(fragment, 'utf8')));
        const tab = await browser.newPage();
        await tab.setViewport({ width: 1034, height: 900, deviceScaleFactor: 1 });
        await tab.goto(pathToFileURL(file).href, { waitUntil: 'load' });
        await tab.waitForFunction('window.rendered !== undefined', { timeout: 30000 });
        const rendered = await tab.evaluate(() => window.rendered);
        if (rendered !== 'ok') {
            console.error(`error: ${fragment}: Mermaid failed: ${rendered}`);
            failed = true;
        }
        await tab.screenshot({ path: out, fullPage: true });
        const height = await tab.evaluate(() => document.body.scrollHeight);
        console.log(`${out}: ${height} px tall`);
        await tab.close();
    }
} finally {
    await browser.close();
}
process.exit(failed ? 1 : 0);
