// Parses Mermaid diagrams with Mermaid's own parser, the one GitHub renders job summaries
// with: `node scripts/mermaid-parse.mjs FILE...`, each file one diagram. Prints `ok FILE`
// per diagram and exits 0, or prints the parser's error and exits 1.
//
// The packages come from REDELIVER_MERMAID_MODULES, a node_modules folder holding `mermaid`
// and `jsdom` (.ci/run installs them into its tools directory). Mermaid expects a browser:
// jsdom provides the window and document it reads while loading (DOMPurify's hooks).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const modules = process.env.REDELIVER_MERMAID_MODULES;
if (!modules) {
    console.error('error: REDELIVER_MERMAID_MODULES must name a node_modules folder with mermaid and jsdom');
    process.exit(2);
}
const require = createRequire(join(modules, 'resolve-from-here.js'));
const load = async (name) => import(pathToFileURL(require.resolve(name)).href);

const { JSDOM } = await load('jsdom');
const dom = new JSDOM('<!doctype html><html><body></body></html>');
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await load('mermaid');
mermaid.initialize({ startOnLoad: false });

let failed = false;
for (const file of process.argv.slice(2)) {
    const text = readFileSync(file, 'utf8');
    try {
        const parsed = await mermaid.parse(text);
        console.log(`ok ${file} (${parsed.diagramType})`);
    } catch (error) {
        failed = true;
        console.error(`error: ${file} does not parse: ${error.message ?? error}`);
    }
}
// A parser that accepts anything proves nothing: a broken diagram must be refused.
try {
    await mermaid.parse('xychart-beta\n    bar [1, 2,\n');
    console.error('error: mermaid accepted a broken chart: the check is not working');
    failed = true;
} catch {
    // refused, as it should be
}
process.exit(failed ? 1 : 0);
