// agent.mjs drives "atlite serve" with the reference TypeScript client,
// @atproto/api's AtpAgent, the way an app does: it signs in, writes, reads,
// pages, uploads a blob and syncs the repo, checking exact values at every
// step. It prints one "ok STEP ..." line per step and, last, an "EXPECT"
// line: the JSON list of the commits it made ({rev, ops}) for the firehose
// consumer's run to be compared with. Any mismatch throws: exit status 1.
//
// usage: PLC_URL=http://127.0.0.1:N node agent.mjs BASE_URL HANDLE PASSWORD
import { createHash } from 'node:crypto'
import { AtpAgent } from '@atproto/api'
import { IdResolver } from '@atproto/identity'
import { readCarWithRoot, verifyRepoCar, verifyRecords } from '@atproto/repo'

const [base, handle, password] = process.argv.slice(2)
if (!base || !handle || !password || !process.env.PLC_URL) {
  console.error('usage: PLC_URL=URL node agent.mjs BASE_URL HANDLE PASSWORD')
  process.exit(2)
}

let steps = 0
const ok = (step, detail = '') => {
  steps++
  console.log(`ok ${step}${detail ? ' ' + detail : ''}`)
}
const fail = (msg) => {
  throw new Error(msg)
}
// canon is JSON with the keys of objects sorted: record values come back in
// DAG-CBOR key order, which need not be the order they were written in.
const canon = (v) => JSON.stringify(v, (_, x) => (x && typeof x === 'object' && !Array.isArray(x) && x.constructor === Object ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : x))
const eq = (what, got, want) => {
  const g = canon(got)
  const w = canon(want)
  if (g !== w) fail(`${what}: got ${g}, want ${w}`)
}
const expectXRPCError = async (what, promise, error) => {
  try {
    await promise
  } catch (err) {
    if (err.error !== error) fail(`${what}: error ${err.error} (${err.status} ${err.message}), want ${error}`)
    return err
  }
  fail(`${what}: succeeded, want error ${error}`)
}

// A 1x1 PNG and its CID (CIDv1, raw codec, sha2-256, base32).
const png = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64',
)
const rawCID = (bytes) => {
  const digest = createHash('sha256').update(bytes).digest()
  const cid = Buffer.concat([Buffer.from([0x01, 0x55, 0x12, 0x20]), digest])
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567'
  let out = 'b'
  let bits = 0
  let value = 0
  for (const byte of cid) {
    value = (value << 8) | byte
    bits += 8
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31]
      bits -= 5
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31]
  return out
}

// commits records every commit this script makes, in order, as the
// firehose must show it: its rev and its ops (action, path, cid).
const commits = []
const recordCommit = (what, data, ops) => {
  if (!data.commit || !data.commit.cid || !data.commit.rev) fail(`${what}: no commit {cid, rev} in the output: ${JSON.stringify(data)}`)
  if (commits.length > 0 && !(data.commit.rev > commits.at(-1).rev)) fail(`${what}: rev ${data.commit.rev} not after ${commits.at(-1).rev}`)
  commits.push({ rev: data.commit.rev, cid: data.commit.cid, ops })
}
const pathOf = (uri) => uri.split('/').slice(3).join('/')

let agent = new AtpAgent({ service: base })
const repo = agent.com.atproto.repo
const sync = agent.com.atproto.sync

// describeServer and login (createSession).
{
  const res = await agent.com.atproto.server.describeServer()
  if (!res.data.did || !Array.isArray(res.data.availableUserDomains)) fail(`describeServer: ${JSON.stringify(res.data)}`)
  ok('describeServer', res.data.did)
}
await expectXRPCError('login with a wrong password', agent.login({ identifier: handle, password: password + 'x' }), 'AuthenticationRequired')
ok('login refused with a wrong password')
const login = await agent.login({ identifier: handle, password })
eq('login handle', login.data.handle, handle)
if (!login.data.did.startsWith('did:plc:')) fail(`login did ${login.data.did}`)
const did = login.data.did
eq('session did', agent.session?.did, did)
eq('didDoc id', login.data.didDoc?.id, did)
// The agent sends its requests to the PDS named in the session's DID document.
eq('agent PDS URL', agent.pdsUrl?.origin, new URL(base).origin)
ok('login', `${did} ${handle}`)
{
  const res = await agent.com.atproto.server.getSession()
  eq('getSession did', res.data.did, did)
  eq('getSession handle', res.data.handle, handle)
  ok('getSession')
}
{
  const res = await agent.com.atproto.identity.resolveHandle({ handle })
  eq('resolveHandle', res.data.did, did)
  ok('resolveHandle')
}

// createRecord (via Agent.post) and getRecord.
const post1 = await agent.post({ text: 'hello from @atproto/api', createdAt: '2026-01-01T00:00:00.000Z' })
if (!post1.uri.startsWith(`at://${did}/app.bsky.feed.post/`)) fail(`post uri ${post1.uri}`)
ok('createRecord (agent.post)', post1.uri)
{
  const res = await repo.getRecord({ repo: did, collection: 'app.bsky.feed.post', rkey: post1.uri.split('/').at(-1) })
  eq('getRecord uri', res.data.uri, post1.uri)
  eq('getRecord cid', res.data.cid, post1.cid)
  eq('getRecord value', res.data.value, { $type: 'app.bsky.feed.post', text: 'hello from @atproto/api', createdAt: '2026-01-01T00:00:00.000Z' })
  ok('getRecord')
}
// agent.post returns only {uri, cid}: read the commit back from getLatestCommit.
{
  const res = await sync.getLatestCommit({ did })
  commits.push({ rev: res.data.rev, cid: res.data.cid, ops: [{ action: 'create', path: pathOf(post1.uri), cid: post1.cid }] })
}

// Four more posts with createRecord, then listRecords paged by 2.
const posts = [post1]
let validation
for (let i = 2; i <= 5; i++) {
  const record = { $type: 'app.bsky.feed.post', text: `post ${i}`, createdAt: `2026-01-01T00:00:0${i}.000Z` }
  const res = await repo.createRecord({ repo: did, collection: 'app.bsky.feed.post', record })
  // The reference PDS validates app.bsky.* records ("valid"); a PDS that
  // does not know the lexicon says "unknown". Both are allowed.
  if (!['valid', 'unknown'].includes(res.data.validationStatus)) fail(`createRecord ${i}: validationStatus ${res.data.validationStatus}`)
  validation = res.data.validationStatus
  posts.push({ uri: res.data.uri, cid: res.data.cid })
  recordCommit(`createRecord ${i}`, res.data, [{ action: 'create', path: pathOf(res.data.uri), cid: res.data.cid }])
}
ok('createRecord x4', `validationStatus ${validation}`)
{
  const pages = []
  const seen = []
  let cursor
  for (let n = 0; n < 10; n++) {
    const res = await repo.listRecords({ repo: did, collection: 'app.bsky.feed.post', limit: 2, cursor })
    pages.push(res.data.records.length)
    for (const r of res.data.records) seen.push(r.uri)
    cursor = res.data.cursor
    if (!cursor || res.data.records.length === 0) break
  }
  // Newest first (rkeys are TIDs, so descending rkey order is newest first).
  const want = posts.map((p) => p.uri).reverse()
  eq('listRecords uris', seen, want)
  if (pages[0] !== 2 || pages[1] !== 2 || pages[2] !== 1 || pages.slice(3).some((n) => n !== 0)) fail(`listRecords page sizes ${pages}`)
  ok('listRecords limit=2', `pages ${pages.join(',')}`)

  const asc = []
  cursor = undefined
  for (let n = 0; n < 10; n++) {
    const res = await repo.listRecords({ repo: did, collection: 'app.bsky.feed.post', limit: 2, cursor, reverse: true })
    for (const r of res.data.records) asc.push(r.uri)
    cursor = res.data.cursor
    if (!cursor || res.data.records.length === 0) break
  }
  eq('listRecords reverse uris', asc, posts.map((p) => p.uri))
  ok('listRecords limit=2 reverse=true')
}

// putRecord: update post 1, with swapRecord.
const rkey1 = post1.uri.split('/').at(-1)
{
  await expectXRPCError(
    'putRecord with a stale swapRecord',
    repo.putRecord({ repo: did, collection: 'app.bsky.feed.post', rkey: rkey1, swapRecord: posts[1].cid, record: { $type: 'app.bsky.feed.post', text: 'x', createdAt: '2026-01-01T00:00:00.000Z' } }),
    'InvalidSwap',
  )
  const record = { $type: 'app.bsky.feed.post', text: 'hello, edited', createdAt: '2026-01-01T00:00:00.000Z' }
  const res = await repo.putRecord({ repo: did, collection: 'app.bsky.feed.post', rkey: rkey1, swapRecord: post1.cid, record })
  eq('putRecord uri', res.data.uri, post1.uri)
  if (res.data.cid === post1.cid) fail('putRecord: cid unchanged')
  recordCommit('putRecord', res.data, [{ action: 'update', path: pathOf(post1.uri), cid: res.data.cid }])
  const got = await repo.getRecord({ repo: did, collection: 'app.bsky.feed.post', rkey: rkey1 })
  eq('getRecord after putRecord', [got.data.cid, got.data.value], [res.data.cid, record])
  posts[0] = { uri: post1.uri, cid: res.data.cid }
  ok('putRecord (update, swapRecord)')
  await expectXRPCError('getRecord with the old cid', repo.getRecord({ repo: did, collection: 'app.bsky.feed.post', rkey: rkey1, cid: post1.cid }), 'RecordNotFound')
  const byCID = await repo.getRecord({ repo: did, collection: 'app.bsky.feed.post', rkey: rkey1, cid: res.data.cid })
  eq('getRecord with the current cid', byCID.data.cid, res.data.cid)
  await expectXRPCError(
    'createRecord with a stale swapCommit',
    repo.createRecord({ repo: did, collection: 'app.bsky.feed.post', swapCommit: commits[0].cid, record: { $type: 'app.bsky.feed.post', text: 'x', createdAt: '2026-01-01T00:00:00.000Z' } }),
    'InvalidSwap',
  )
  ok('getRecord by cid, stale swapCommit refused')
}

// upsertProfile: getRecord (RecordNotFound), putRecord with swapRecord null.
{
  await expectXRPCError('getRecord of a missing profile', repo.getRecord({ repo: did, collection: 'app.bsky.actor.profile', rkey: 'self' }), 'RecordNotFound')
  await agent.upsertProfile((existing) => {
    if (existing) fail('upsertProfile: a profile exists already')
    return { displayName: 'Alice' }
  })
  const got = await repo.getRecord({ repo: did, collection: 'app.bsky.actor.profile', rkey: 'self' })
  eq('profile', got.data.value, { $type: 'app.bsky.actor.profile', displayName: 'Alice' })
  const head = await sync.getLatestCommit({ did })
  commits.push({ rev: head.data.rev, cid: head.data.cid, ops: [{ action: 'create', path: 'app.bsky.actor.profile/self', cid: got.data.cid }] })
  ok('upsertProfile (putRecord create, swapRecord null)')
}

// deleteRecord (via Agent.deletePost).
{
  const gone = posts.pop()
  await agent.deletePost(gone.uri)
  await expectXRPCError('getRecord after delete', repo.getRecord({ repo: did, collection: 'app.bsky.feed.post', rkey: gone.uri.split('/').at(-1) }), 'RecordNotFound')
  const head = await sync.getLatestCommit({ did })
  commits.push({ rev: head.data.rev, cid: head.data.cid, ops: [{ action: 'delete', path: pathOf(gone.uri), cid: null }] })
  const res = await repo.deleteRecord({ repo: did, collection: 'app.bsky.feed.post', rkey: gone.uri.split('/').at(-1) })
  // Deleting a record that is gone is no error; it makes no commit.
  if (res.data.commit) fail(`deleteRecord of a missing record made commit ${JSON.stringify(res.data.commit)}`)
  ok('deleteRecord (agent.deletePost)')
}

// applyWrites: create + update + delete in one commit.
{
  const newKey = '3kinteropapply'
  const [upd, del] = [posts[1], posts[2]]
  const res = await repo.applyWrites({
    repo: did,
    writes: [
      { $type: 'com.atproto.repo.applyWrites#create', collection: 'app.bsky.feed.post', rkey: newKey, value: { $type: 'app.bsky.feed.post', text: 'applied', createdAt: '2026-01-02T00:00:00.000Z' } },
      { $type: 'com.atproto.repo.applyWrites#update', collection: 'app.bsky.feed.post', rkey: upd.uri.split('/').at(-1), value: { $type: 'app.bsky.feed.post', text: 'updated by applyWrites', createdAt: '2026-01-02T00:00:00.000Z' } },
      { $type: 'com.atproto.repo.applyWrites#delete', collection: 'app.bsky.feed.post', rkey: del.uri.split('/').at(-1) },
    ],
  })
  const results = res.data.results ?? fail('applyWrites: no results')
  eq('applyWrites result types', results.map((r) => r.$type), ['com.atproto.repo.applyWrites#createResult', 'com.atproto.repo.applyWrites#updateResult', 'com.atproto.repo.applyWrites#deleteResult'])
  eq('applyWrites create uri', results[0].uri, `at://${did}/app.bsky.feed.post/${newKey}`)
  eq('applyWrites update uri', results[1].uri, upd.uri)
  recordCommit('applyWrites', res.data, [
    { action: 'create', path: `app.bsky.feed.post/${newKey}`, cid: results[0].cid },
    { action: 'update', path: pathOf(upd.uri), cid: results[1].cid },
    { action: 'delete', path: pathOf(del.uri), cid: null },
  ])
  const list = await repo.listRecords({ repo: did, collection: 'app.bsky.feed.post', limit: 100 })
  const byURI = Object.fromEntries(list.data.records.map((r) => [r.uri, r]))
  eq('after applyWrites: created', byURI[results[0].uri]?.cid, results[0].cid)
  eq('after applyWrites: updated', [byURI[upd.uri]?.cid, byURI[upd.uri]?.value.text], [results[1].cid, 'updated by applyWrites'])
  eq('after applyWrites: deleted', byURI[del.uri], undefined)
  posts[1] = { uri: upd.uri, cid: results[1].cid }
  posts.splice(2, 1, { uri: results[0].uri, cid: results[0].cid })
  ok('applyWrites (create+update+delete)', `rev ${res.data.commit.rev}`)
}

// uploadBlob, then a post that embeds it; getBlob and listBlobs.
{
  const anon = new AtpAgent({ service: base })
  await expectXRPCError('uploadBlob without a session', anon.com.atproto.repo.uploadBlob(png, { encoding: 'image/png' }), 'AuthMissing')
  const res = await repo.uploadBlob(png, { encoding: 'image/png' })
  const blob = res.data.blob
  eq('blob mimeType', blob.mimeType, 'image/png')
  eq('blob size', blob.size, png.length)
  eq('blob cid', blob.ref.toString(), rawCID(png))
  ok('uploadBlob', blob.ref.toString())
  const record = {
    $type: 'app.bsky.feed.post',
    text: 'a picture',
    createdAt: '2026-01-03T00:00:00.000Z',
    embed: { $type: 'app.bsky.embed.images', images: [{ image: blob, alt: 'one pixel' }] },
  }
  const cr = await repo.createRecord({ repo: did, collection: 'app.bsky.feed.post', record })
  recordCommit('createRecord with a blob', cr.data, [{ action: 'create', path: pathOf(cr.data.uri), cid: cr.data.cid }])
  posts.push({ uri: cr.data.uri, cid: cr.data.cid })
  const got = await repo.getRecord({ repo: did, collection: 'app.bsky.feed.post', rkey: cr.data.uri.split('/').at(-1) })
  const img = got.data.value.embed?.images?.[0]?.image
  eq('embedded blob', [img?.ref?.toString(), img?.mimeType, img?.size], [rawCID(png), 'image/png', png.length])
  ok('createRecord embedding the blob')
  const gb = await sync.getBlob({ did, cid: rawCID(png) })
  eq('getBlob bytes', Buffer.from(gb.data).toString('base64'), png.toString('base64'))
  const lb = await sync.listBlobs({ did })
  eq('listBlobs', lb.data.cids, [rawCID(png)])
  ok('getBlob and listBlobs')
}

// describeRepo.
{
  const res = await repo.describeRepo({ repo: handle })
  eq('describeRepo did', res.data.did, did)
  eq('describeRepo handle', res.data.handle, handle)
  eq('describeRepo handleIsCorrect', res.data.handleIsCorrect, true)
  eq('describeRepo collections', [...res.data.collections].sort(), ['app.bsky.actor.profile', 'app.bsky.feed.post'])
  eq('describeRepo didDoc id', res.data.didDoc?.id, did)
  ok('describeRepo')
}

// Sync: getLatestCommit, getRepo (verified against the key the PLC
// directory publishes), getRecord proofs, getRepoStatus, listRepos.
{
  const key = await new IdResolver({ plcUrl: process.env.PLC_URL }).did.resolveAtprotoKey(did)
  const head = await sync.getLatestCommit({ did })
  eq('getLatestCommit', [head.data.cid, head.data.rev], [commits.at(-1).cid, commits.at(-1).rev])
  ok('getLatestCommit', head.data.rev)

  const car = await sync.getRepo({ did })
  const bytes = car.data
  if (!(bytes instanceof Uint8Array) || bytes.length === 0) fail('getRepo: no bytes')
  const { root } = await readCarWithRoot(bytes)
  eq('getRepo root', root.toString(), head.data.cid)
  const verified = await verifyRepoCar(bytes, did, key)
  eq('getRepo commit rev', verified.commit.rev, head.data.rev)
  const have = verified.creates.map((c) => `${c.collection}/${c.rkey} ${c.cid.toString()}`).sort()
  const profile = await repo.getRecord({ repo: did, collection: 'app.bsky.actor.profile', rkey: 'self' })
  const want = [...posts.map((p) => `${pathOf(p.uri)} ${p.cid}`), `app.bsky.actor.profile/self ${profile.data.cid}`].sort()
  eq('getRepo records', have, want)
  ok('getRepo (verifyRepoCar)', `${bytes.length} bytes, ${have.length} records`)

  const rkey = posts[0].uri.split('/').at(-1)
  const proof = await sync.getRecord({ did, collection: 'app.bsky.feed.post', rkey })
  const claims = await verifyRecords(proof.data, did, key)
  eq('sync.getRecord proof', claims.map((c) => `${c.collection}/${c.rkey} ${c.record.text}`), [`app.bsky.feed.post/${rkey} hello, edited`])
  ok('sync.getRecord (verifyRecords)')

  const st = await sync.getRepoStatus({ did })
  eq('getRepoStatus', [st.data.did, st.data.active, st.data.rev], [did, true, head.data.rev])
  const lr = await sync.listRepos({})
  eq('listRepos', lr.data.repos.map((r) => [r.did, r.head, r.rev]), [[did, head.data.cid, head.data.rev]])
  ok('getRepoStatus and listRepos')
}

// refreshSession: new tokens, which work.
{
  const before = agent.session
  await agent.sessionManager.refreshSession()
  const after = agent.session
  if (!after || after.accessJwt === before.accessJwt || after.refreshJwt === before.refreshJwt) fail('refreshSession: tokens unchanged')
  eq('refreshed session', [after.did, after.handle], [did, handle])
  const res = await agent.com.atproto.server.getSession()
  eq('getSession after refresh', res.data.did, did)
  ok('refreshSession')
  // An app restarted with the session it persisted resumes it in a new
  // agent (which refreshes it), and goes on with that agent. (The old agent's
  // tokens are refused from then on by atlite: see shared-session.mjs.)
  const resumed = new AtpAgent({ service: base })
  await resumed.resumeSession(after)
  eq('resumed session', [resumed.session?.did, resumed.session?.handle], [did, handle])
  eq('resumed agent PDS URL', resumed.pdsUrl?.origin, new URL(base).origin)
  const rd = await resumed.com.atproto.repo.describeRepo({ repo: did })
  eq('resumed agent describeRepo', rd.data.handle, handle)
  agent = resumed
  ok('resumeSession')
}

// App passwords: create one, sign in with it, revoke it.
{
  const ap = await agent.com.atproto.server.createAppPassword({ name: 'interop' })
  eq('createAppPassword name', ap.data.name, 'interop')
  if (typeof ap.data.password !== 'string' || ap.data.password.length < 16) fail(`createAppPassword password ${ap.data.password}`)
  const list = await agent.com.atproto.server.listAppPasswords()
  eq('listAppPasswords', list.data.passwords.map((p) => p.name), ['interop'])
  const other = new AtpAgent({ service: base })
  await other.login({ identifier: did, password: ap.data.password })
  eq('app password session', [other.session?.did, other.session?.handle], [did, handle])
  const got = await other.com.atproto.repo.getRecord({ repo: did, collection: 'app.bsky.actor.profile', rkey: 'self' })
  eq('app password session read', got.data.value.displayName, 'Alice')
  await agent.com.atproto.server.revokeAppPassword({ name: 'interop' })
  await expectXRPCError('login with a revoked app password', new AtpAgent({ service: base }).login({ identifier: did, password: ap.data.password }), 'AuthenticationRequired')
  ok('app passwords (create, login, revoke)')
}

// logout (deleteSession): the refresh token is dead afterwards.
{
  const old = agent.session
  await agent.logout()
  if (agent.session) fail('logout: the agent still has a session')
  const raw = new AtpAgent({ service: base })
  const err = await raw.com.atproto.server.refreshSession(undefined, { headers: { authorization: `Bearer ${old.refreshJwt}` } }).then(
    (res) => fail(`refreshSession after logout succeeded: ${JSON.stringify(res.data)}`),
    (e) => e,
  )
  // AtpAgent takes either as "sign in again" (it drops the session).
  if (!['ExpiredToken', 'InvalidToken'].includes(err.error)) fail(`refreshSession after logout: ${err.status} ${err.error} ${err.message}`)
  ok('logout (deleteSession)', `then refreshSession: ${err.error}`)
}

console.log(`agent: ${steps} steps passed`)
console.log('EXPECT ' + JSON.stringify(commits.map(({ rev, ops }) => ({ rev, ops }))))
