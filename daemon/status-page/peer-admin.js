// Managing peers from the page: an invite for another instance, pairing with one by its
// invite, pausing and resuming a peer, and what is shared with it — the change previewed
// (what it would send and withdraw) before it is saved. Each applies at once in the
// daemon and is kept in peers.json.
import { $, act, api, element, showFailure, when } from './page-core.js'

const TYPES = ['person', 'organization', 'transaction', 'file']

let editing

/** The buttons of a peer's row: pause or resume, and its share. */
export function peerActions(peer) {
  const pause = element('button', {
    type: 'button',
    textContent: peer.paused ? 'Resume' : 'Pause',
  })
  pause.setAttribute('aria-label', `${peer.paused ? 'Resume' : 'Pause'} ${peer.name}`)
  pause.addEventListener('click', () =>
    // The row follows from the `peer` events the change sends (a read of /v1/peers here
    // could answer before the session opens and arrive after the event that says it did).
    act(pause, () => api('PATCH', `/v1/peers/${peer.id}`, { paused: !peer.paused })),
  )
  const share = element('button', { type: 'button', textContent: 'Share…' })
  share.setAttribute('aria-label', `Share… with ${peer.name}: what it gets`)
  share.addEventListener('click', () => editShare(peer))
  return [pause, ' ', share]
}

export function setUpPeerAdmin() {
  $('invite-button').onclick = () => act($('invite-button'), makeInvite)
  $('pair-form').onsubmit = (event) => {
    event.preventDefault()
    void act($('pair-button'), pair)
  }
  $('share-types').replaceChildren(
    ...TYPES.map((type) => {
      const box = element('input', { type: 'checkbox', id: `share-${type}`, value: type })
      box.addEventListener('change', () => toggleType(type, box.checked))
      return element('label', { className: 'check' }, box, ` ${type}`)
    }),
  )
  $('share-preview-button').onclick = () => act($('share-preview-button'), previewShare)
  $('share-save').onclick = () => act($('share-save'), saveShare)
  $('share-cancel').onclick = closeShare
}

async function makeInvite() {
  const invite = await api('POST', '/v1/invites', {})
  $('invite-token').value = invite.token
  $('invite-expires').textContent = when(invite.expiresAt)
  $('invite-result').hidden = false
  $('invite-token').select()
}

async function pair() {
  const token = $('pair-token').value.trim()
  const name = $('pair-name').value.trim()
  const peer = await api('POST', '/v1/pair', { token, ...(name ? { name } : {}) })
  $('pair-token').value = ''
  $('pair-name').value = ''
  $('pair-result').textContent = `Paired with ${peer.name}.`
}

function editShare(peer) {
  editing = peer
  $('share-peer').textContent = peer.name
  $('share-text').value = JSON.stringify(peer.share ?? {}, null, 2)
  syncBoxes()
  $('share-result').replaceChildren()
  $('share-editor').hidden = false
  $('share-text').focus()
}

function closeShare() {
  editing = undefined
  $('share-editor').hidden = true
}

/** The share as typed, or an error naming what is wrong with the JSON. */
function typedShare() {
  try {
    const share = JSON.parse($('share-text').value)
    if (typeof share === 'object' && share !== null && !Array.isArray(share)) return share
  } catch {
    // Told below.
  }
  const error = new Error('the share must be a JSON object, as a peer’s "share" in peers.json')
  error.code = 'INVALID_SHARE'
  throw error
}

function syncBoxes() {
  let share = {}
  try {
    share = typedShare()
  } catch {
    // The boxes keep what they show until the JSON reads again.
    return
  }
  for (const type of TYPES) $(`share-${type}`).checked = Object.hasOwn(share, type)
}

function toggleType(type, shared) {
  let share
  try {
    share = typedShare()
  } catch (error) {
    showFailure(error)
    return
  }
  if (shared) share[type] = share[type] ?? {}
  else delete share[type]
  $('share-text').value = JSON.stringify(share, null, 2)
}

async function previewShare() {
  const share = typedShare()
  const preview = await api('POST', `/v1/peers/${editing.id}/share-preview`, { share })
  $('share-result').replaceChildren(...previewView(preview))
}

function previewView(preview) {
  const counts = (what) =>
    Object.entries(what)
      .filter(([, count]) => count > 0)
      .map(([type, count]) => `${count.toLocaleString()} ${type}`)
      .join(', ') || 'nothing'
  return [
    element('p', {}, element('strong', { textContent: 'Would send: ' }), counts(preview.send)),
    element(
      'p',
      {},
      element('strong', { textContent: 'Would withdraw: ' }),
      counts(preview.withdraw),
    ),
  ]
}

async function saveShare() {
  const share = typedShare()
  await api('PATCH', `/v1/peers/${editing.id}`, { share })
  $('share-result').replaceChildren(
    element('p', { textContent: `Saved: ${editing.name} now gets what this share says.` }),
  )
}
