import { Parser, fromFile } from '@asyncapi/parser';
const parser = new Parser();
const { document, diagnostics } = await fromFile(parser, process.argv[2]).parse();
const errors = diagnostics.filter(d => d.severity === 0);
for (const d of diagnostics) console.log(d.severity, d.code, JSON.stringify(d.path), d.message);
if (!document || errors.length) { console.error(`invalid: ${errors.length} errors`); process.exit(1); }
console.log(`valid: ${document.channels().length} channels, ${document.operations().length} operations`);
