// `npm run build`, after tsc: copy the files the code reads at run time (email templates, the
// dashboard page) next to the compiled JavaScript, so `dist/` finds them where the sources do.
import { cpSync } from 'node:fs'

const assets = [
  ['handlers/email/templates', 'dist/handlers/email/templates'],
  ['src/service/http/dashboard.html', 'dist/src/service/http/dashboard.html'],
]
for (const [from, to] of assets) cpSync(from, to, { recursive: true })
