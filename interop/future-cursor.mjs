// future-cursor.mjs subscribes with @atproto/sync's Firehose from a cursor
// past the server's last seq: the reference PDS answers with an error frame
// FutureCursor, which the Firehose hands to onError as the cause of a
// FirehoseSubscriptionError. Exit 0 when that is what happens.
//
// usage: node future-cursor.mjs BASE_URL
import { Firehose, MemoryRunner } from '@atproto/sync'
import { IdResolver } from '@atproto/identity'

const base = new URL(process.argv[2])
setTimeout(() => {
  console.error('future-cursor: no FutureCursor error in 20 s')
  process.exit(1)
}, 20000).unref()
const firehose = new Firehose({
  idResolver: new IdResolver({ plcUrl: 'http://127.0.0.1:1' }), // never used: no events come
  runner: new MemoryRunner({ startCursor: 1000000000 }),
  service: `ws://${base.host}`,
  subscriptionReconnectDelay: 100000,
  handleEvent: async (evt) => {
    console.error(`future-cursor: unexpected event ${JSON.stringify(evt)}`)
    process.exit(1)
  },
  onError: (err) => {
    const cause = err.cause ?? {}
    if (cause.error === 'FutureCursor') {
      console.log(`ok FutureCursor: ${cause.message}`)
      process.exit(0)
    }
    console.error(`future-cursor: ${err.message}: ${cause.error} ${cause.message ?? cause}`)
    process.exit(1)
  },
})
firehose.start()
