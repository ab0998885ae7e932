// What every part of the status page shares: the token (kept in this tab's sessionStorage
// only), API calls, building elements (text only: everything that came from a peer is
// shown with textContent, never as HTML), times, instance names and record names.
const TOKEN_KEY = 'objectsync-token'

export const $ = (id) => document.getElementById(id)

export const state = { token: takeToken(), instanceId: undefined }
const peerNames = new Map()

function takeToken() {
  // `objectsync status` prints the page's address with the token after #: the fragment
  // never reaches a server or a log. It is moved to sessionStorage and off the address.
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('token')
  if (fromHash) {
    sessionStorage.setItem(TOKEN_KEY, fromHash)
    history.replaceState(null, '', location.pathname)
  }
  return sessionStorage.getItem(TOKEN_KEY)
}

export function setToken(token) {
  state.token = token
  sessionStorage.setItem(TOKEN_KEY, token)
}

export async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: {
      authorization: `Bearer ${state.token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const json = response.status === 204 ? undefined : await response.json()
  if (!response.ok) {
    const error = new Error(json?.error?.message ?? response.statusText)
    error.code = json?.error?.code
    throw error
  }
  return json
}

export function element(tag, properties = {}, ...children) {
  const node = document.createElement(tag)
  Object.assign(node, properties)
  for (const child of children) node.append(child)
  return node
}

export function showValue(value) {
  if (value === undefined || value === null) return '(empty)'
  return typeof value === 'string' ? value : JSON.stringify(value)
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : 'never'
}

export function bytes(count) {
  if (count < 1024) return `${count} B`
  if (count < 1024 * 1024) return `${(count / 1024).toFixed(1)} KiB`
  return `${(count / 1024 / 1024).toFixed(1)} MiB`
}

export function rememberPeer(id, name) {
  if (name === undefined) peerNames.delete(id)
  else peerNames.set(id, name)
}

/** An instance as people know it: this one, a paired peer by name, another by its id. */
export function peerName(id) {
  if (!id) return 'this instance'
  if (id === state.instanceId) return 'this instance'
  return peerNames.get(id) ?? `${id.slice(0, 12)}…`
}

// ── records by name ──────────────────────────────────────────────────────────────

const labels = new Map()

/** The record's name (its `label`), read once per page load; its type when it has none. */
export function labelOf(id) {
  let label = labels.get(id)
  if (label === undefined) {
    label = api('GET', `/v1/objects/${encodeURIComponent(id)}`).then(
      (object) => object.label || object.type,
      () => undefined,
    )
    labels.set(id, label)
  }
  return label
}

export function forgetLabel(id) {
  labels.delete(id)
}

/**
 * A link to the record's view, named by the record's name once read (its id until then,
 * and in the tooltip).
 */
export function recordLink(id, knownLabel) {
  const link = element('a', { href: `#/objects/${id}`, title: id, className: 'record' })
  link.textContent = knownLabel || `${id.slice(0, 10)}…`
  if (!knownLabel) {
    void labelOf(id).then((label) => {
      if (label) link.textContent = label
    })
  }
  return link
}

/** Runs `action` for a button: disabled meanwhile, the error shown if it fails. */
export async function act(button, action) {
  button.disabled = true
  $('action-error').textContent = ''
  try {
    await action()
  } catch (error) {
    showFailure(error)
  } finally {
    button.disabled = false
  }
}

export function showFailure(error) {
  $('action-error').textContent = `${error.code ?? 'ERROR'}: ${error.message}`
}
