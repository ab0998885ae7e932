// An invite is good once: a second instance pairing with a used token is told so (403
// INVITE_REFUSED, "no open invite"), not that the inviter can't be reached. Real daemons
// over libp2p, as a user meets it with `objectsync pair`.
import { describe, expect, it, onTestFinished } from 'vitest'
import { callApi, startTestDaemon } from './helpers/daemons.ts'

describe('a used invite', () => {
  it('is refused as used to the next instance that tries it', { timeout: 60_000 }, async () => {
    const listen = { listen: ['/ip4/0.0.0.0/tcp/0'] }
    const [inviter, first, second] = await Promise.all([
      startTestDaemon('Inviter', listen),
      startTestDaemon('First', listen),
      startTestDaemon('Second', listen),
    ])
    onTestFinished(async () => {
      await Promise.all([inviter, first, second].map((each) => each.daemon.stop()))
    })
    const invite = await callApi<{ token: string }>(inviter, 'POST', '/v1/invites', {
      body: { expires: '10m' },
    })
    const token = invite.json.token
    expect((await callApi(first, 'POST', '/v1/pair', { body: { token } })).status).toBe(201)
    const again = await callApi<{ error: { code: string; message: string } }>(
      second,
      'POST',
      '/v1/pair',
      { body: { token } },
    )
    expect(again.status).toBe(403)
    expect(again.json.error.code).toBe('INVITE_REFUSED')
    expect(again.json.error.message).toContain('no open invite (already used')
    expect(again.json.error.message).not.toContain('undefined')
  })
})
