// shared-session.mjs (run by interop_test.go's TestSharedSession): two
// AtpAgents sharing one session, as two tabs of a web app, or an app and
// its share extension, do. Agent B resumes the session (AtpAgent refreshes
// it); agent A goes on with the tokens it has.
//
// The reference PDS keeps A working: a rotated refresh token stays usable
// for a 2 hour grace period. atlite refuses A's stale access token (401
// InvalidToken "Token has been revoked"); AtpAgent, on a 401, refreshes with
// the refresh token it has, the rotated one, which atlite accepts within its
// RefreshGracePeriod while the chain is alive. Before that grace period,
// atlite took it as a replay and revoked the whole chain, signing out both.
//
// usage: node shared-session.mjs BASE_URL HANDLE PASSWORD
import { AtpAgent } from '@atproto/api'

const [base, handle, password] = process.argv.slice(2)
const a = new AtpAgent({ service: base })
await a.login({ identifier: handle, password })
const b = new AtpAgent({ service: base })
await b.resumeSession(a.session)
console.log('ok b resumed the session (refreshed)')

const step = async (what, f) => {
  try {
    await f()
    console.log(`ok ${what}`)
  } catch (err) {
    console.log(`FAIL ${what}: ${err.status} ${err.error} ${err.message}`)
    process.exitCode = 1
  }
}
await step('a reads its session with its access token', () => a.com.atproto.server.getSession())
await step('a refreshes with its (rotated) refresh token', () => a.sessionManager.refreshSession().then(() => a.session ?? Promise.reject(new Error('session dropped'))))
await step('b still works', () => b.com.atproto.server.getSession())
