// firehose.mjs consumes the subscribeRepos firehose of "atlite serve" with
// the reference consumer, @atproto/sync's Firehose, with every check on:
// commits are authenticated (the signature against the key the DID's PLC
// document publishes, and the MST proofs of every op), identity events have
// their handle verified both ways, and each frame is validated against the
// subscribeRepos lexicon. On top of it this script checks what a strict
// relay checks: seq and rev order, since = the previous rev, the CAR's root
// = the commit, and the inductive proof: the ops inverted on the commit's
// partial MST give prevData, the previous commit's data.
//
// It subscribes from cursor 0 and stops when it has seen N commits; it
// prints one line per event, then a "SEEN" line: the JSON list of commits
// ({rev, ops}). Any error event, error or failed check: exit status 1.
//
// With CURSOR set it subscribes from that cursor instead (a consumer resuming):
// the first commit's since and prevData are then taken as they come (the
// inductive proof is still checked against that prevData).
//
// usage: PLC_URL=http://127.0.0.1:N [CURSOR=SEQ] node firehose.mjs BASE_URL DID HANDLE N
import http from 'node:http'
import { Firehose, MemoryRunner } from '@atproto/sync'
import { IdResolver } from '@atproto/identity'
import { MST, MemoryBlockstore, readCarWithRoot, def, verifyCommitSig } from '@atproto/repo'

const [base, did, handle, nArg] = process.argv.slice(2)
const want = Number(nArg)
if (!base || !did || !handle || !(want > 0) || !process.env.PLC_URL) {
  console.error('usage: PLC_URL=URL node firehose.mjs BASE_URL DID HANDLE N')
  process.exit(2)
}
const baseURL = new URL(base)
const startCursor = Number(process.env.CURSOR ?? 0)

const die = (msg, err) => {
  console.error(`firehose: ${msg}`)
  for (let e = err; e; e = e.cause) console.error(`  caused by: ${e.stack ?? e}`)
  process.exit(1)
}
setTimeout(() => die(`timed out with ${commits.length} of ${want} commits`), Number(process.env.FIREHOSE_TIMEOUT_MS ?? 55000)).unref()

// DIDs resolve through the PLC directory at $PLC_URL. Handles resolve by
// their /.well-known/atproto-did on the PDS under test, on loopback, with
// the handle as the Host (no DNS: the test handles are under .test).
const idResolver = new IdResolver({ plcUrl: process.env.PLC_URL, timeout: 5000 })
idResolver.handle.resolveDns = async () => undefined
idResolver.handle.resolveDnsBackup = async () => undefined
idResolver.handle.resolveHttp = (h) =>
  new Promise((resolve) => {
    const req = http.get({ host: baseURL.hostname, port: baseURL.port, path: '/.well-known/atproto-did', headers: { host: h }, timeout: 5000 }, (res) => {
      let body = ''
      res.on('data', (c) => (body += c))
      res.on('end', () => {
        const found = body.split('\n')[0].trim()
        resolve(res.statusCode === 200 && found.startsWith('did:') ? found : undefined)
      })
    })
    req.on('error', () => resolve(undefined))
    req.on('timeout', () => req.destroy())
  })

const commits = [] // {seq, rev, ops: [{action, path, cid}]}
const delivered = new Map() // seq -> the op events the Firehose handed over
let lastSeq = 0
let prev = null // {rev, data} of the previous commit
let identities = 0
let accounts = 0
let done = false

const str = (cid) => (cid ? cid.toString() : null)

// checkCommit runs the strict relay's checks on a raw #commit frame.
async function checkCommit(evt) {
  const where = `commit seq ${evt.seq} rev ${evt.rev}`
  if (evt.repo !== did) throw new Error(`${where}: repo ${evt.repo}, want ${did}`)
  if (evt.tooBig || evt.rebase) throw new Error(`${where}: tooBig ${evt.tooBig} rebase ${evt.rebase}`)
  if (prev && !(evt.rev > prev.rev)) throw new Error(`${where}: rev not after the previous ${prev.rev}`)
  if ((prev || startCursor === 0) && (evt.since ?? null) !== (prev ? prev.rev : null)) throw new Error(`${where}: since ${evt.since}, want ${prev ? prev.rev : null}`)
  const car = await readCarWithRoot(evt.blocks)
  if (!car.root.equals(evt.commit)) throw new Error(`${where}: CAR root ${car.root}, commit ${evt.commit}`)
  const store = new MemoryBlockstore(car.blocks)
  const commit = await store.readObj(car.root, def.commit)
  if (commit.did !== did || commit.rev !== evt.rev || commit.version !== 3) throw new Error(`${where}: commit object ${JSON.stringify({ did: commit.did, rev: commit.rev, version: commit.version })}`)
  const key = await idResolver.did.resolveAtprotoKey(did)
  if (!(await verifyCommitSig(commit, key))) throw new Error(`${where}: bad signature for ${key}`)
  // Inductive proof: undo the ops on the partial tree in the blocks.
  let mst = MST.load(store, commit.data)
  for (const op of [...evt.ops].reverse()) {
    if (op.action === 'create') {
      if (op.prev) throw new Error(`${where}: create ${op.path} has prev`)
      mst = await mst.delete(op.path)
    } else if (op.action === 'update') {
      if (!op.prev) throw new Error(`${where}: update ${op.path} has no prev`)
      mst = await mst.update(op.path, op.prev)
    } else if (op.action === 'delete') {
      if (!op.prev) throw new Error(`${where}: delete ${op.path} has no prev`)
      if (op.cid) throw new Error(`${where}: delete ${op.path} has a cid`)
      mst = await mst.add(op.path, op.prev)
    } else {
      throw new Error(`${where}: op action ${op.action}`)
    }
  }
  const inverted = await mst.getPointer()
  if (prev) {
    if (!evt.prevData) throw new Error(`${where}: no prevData`)
    if (!evt.prevData.equals(prev.data)) throw new Error(`${where}: prevData ${evt.prevData}, previous commit's data ${prev.data}`)
    if (!inverted.equals(evt.prevData)) throw new Error(`${where}: the ops inverted give ${inverted}, prevData ${evt.prevData}`)
  } else if (startCursor > 0 && evt.since && !evt.prevData) {
    throw new Error(`${where}: no prevData`)
  } else if (evt.prevData && !inverted.equals(evt.prevData)) {
    throw new Error(`${where}: the ops inverted give ${inverted}, prevData ${evt.prevData}`)
  }
  prev = { rev: evt.rev, data: commit.data }
}

class StrictFirehose extends Firehose {
  async parseEvt(evt) {
    if (typeof evt.seq !== 'number' || evt.seq <= Math.max(lastSeq, startCursor)) die(`seq ${evt.seq} after ${Math.max(lastSeq, startCursor)}`)
    lastSeq = evt.seq
    const type = evt.$type.split('#')[1]
    if (type === 'commit') {
      try {
        await checkCommit(evt)
      } catch (err) {
        die('strict commit check failed', err)
      }
    }
    const out = await super.parseEvt(evt)
    if (type === 'commit') {
      if (out.length !== evt.ops.length) die(`commit seq ${evt.seq}: ${evt.ops.length} ops, ${out.length} authenticated`)
      commits.push({ seq: evt.seq, rev: evt.rev, ops: evt.ops.map((op) => ({ action: op.action, path: op.path, cid: str(op.cid) })) })
      delivered.set(evt.seq, [])
    }
    return out
  }
}

const runner = new MemoryRunner({ startCursor })
const firehose = new StrictFirehose({
  idResolver,
  runner,
  service: `ws://${baseURL.host}`,
  subscriptionReconnectDelay: 100000, // a dropped connection is a failure here, not a retry
  handleEvent: async (evt) => {
    switch (evt.event) {
      case 'create':
      case 'update':
      case 'delete': {
        const list = delivered.get(evt.seq) ?? die(`op event for unknown commit seq ${evt.seq}`)
        list.push({ action: evt.event, path: `${evt.collection}/${evt.rkey}`, cid: evt.event === 'delete' ? null : str(evt.cid) })
        if (evt.did !== did) die(`op event did ${evt.did}`)
        if (evt.event !== 'delete' && evt.record.$type !== evt.collection) die(`record ${evt.uri} has $type ${evt.record.$type}`)
        console.log(`${evt.event} seq=${evt.seq} ${evt.uri} ${evt.event === 'delete' ? '' : evt.cid}`)
        break
      }
      case 'identity':
        identities++
        if (evt.did !== did) die(`identity did ${evt.did}`)
        if (evt.handle !== handle) die(`identity seq ${evt.seq}: verified handle ${evt.handle}, want ${handle}`)
        if (evt.didDocument?.id !== did) die(`identity seq ${evt.seq}: DID document ${JSON.stringify(evt.didDocument)}`)
        console.log(`identity seq=${evt.seq} ${evt.did} ${evt.handle}`)
        break
      case 'account':
        accounts++
        if (evt.did !== did || evt.active !== true) die(`account seq ${evt.seq}: ${JSON.stringify(evt)}`)
        console.log(`account seq=${evt.seq} ${evt.did} active=${evt.active}`)
        break
      default:
        die(`unexpected event ${JSON.stringify(evt)}`)
    }
  },
  onError: (err) => die(`error event: ${err.message}`, err.cause ?? err),
})

const poll = setInterval(async () => {
  if (done || commits.length < want) return
  await runner.processAll()
  done = true
  clearInterval(poll)
  for (const c of commits) {
    const got = JSON.stringify(delivered.get(c.seq))
    if (got !== JSON.stringify(c.ops)) die(`commit seq ${c.seq}: the Firehose handed over ${got}, the frame has ${JSON.stringify(c.ops)}`)
    console.log(`commit seq=${c.seq} rev=${c.rev} ops=${c.ops.length}`)
  }
  if (commits.length !== want) die(`${commits.length} commits, want ${want}`)
  console.log(`firehose: ${commits.length} commits authenticated, ${identities} identity, ${accounts} account events`)
  console.log('SEEN ' + JSON.stringify(commits.map(({ rev, ops }) => ({ rev, ops }))))
  await firehose.destroy()
  process.exit(0)
}, 50)

firehose.start()
