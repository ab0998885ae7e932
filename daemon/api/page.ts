// The status page (daemon/status-page/): plain files served as they are, without the
// token (they hold no data; the page asks for the token itself), under a content
// security policy that allows only the page's own script.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyPluginCallback } from 'fastify'
import { PACKAGE_ROOT } from '../package-root.ts'
import { addRoute } from './route.ts'

const STATUS_PAGE_FILES = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/status.js': { file: 'status.js', type: 'text/javascript; charset=utf-8' },
  '/page-core.js': { file: 'page-core.js', type: 'text/javascript; charset=utf-8' },
  '/record-view.js': { file: 'record-view.js', type: 'text/javascript; charset=utf-8' },
  '/peer-admin.js': { file: 'peer-admin.js', type: 'text/javascript; charset=utf-8' },
  '/status.css': { file: 'status.css', type: 'text/css; charset=utf-8' },
  // Browsers ask for /favicon.ico on their own: answered too, not refused for a token.
  '/favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml' },
  '/favicon.ico': { file: 'favicon.svg', type: 'image/svg+xml' },
} as const

const CONTENT_SECURITY_POLICY =
  "default-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

export const statusPageRoutes: FastifyPluginCallback = (app, _options, done) => {
  for (const [url, { file, type }] of Object.entries(STATUS_PAGE_FILES)) {
    const content = readFileSync(join(PACKAGE_ROOT, 'daemon', 'status-page', file))
    addRoute(app, {
      method: 'GET',
      url,
      summary: url === '/' ? 'The status page' : `The status page's ${file}`,
      public: true,
      ok: { status: 200, type: type.split(';')[0]! },
      handler: (_request, reply) =>
        reply
          .type(type)
          .header('content-security-policy', CONTENT_SECURITY_POLICY)
          .header('x-content-type-options', 'nosniff')
          .header('referrer-policy', 'no-referrer')
          .send(content),
    })
  }
  done()
}
