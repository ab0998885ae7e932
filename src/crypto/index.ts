// Keys, sealing and pairing cryptography (tweetnacl, node:crypto): pair keys, sealed
// frames bound to a session, direction and counter, invite tokens and pairing proofs.
export * from './pair-key.ts'
export * from './frame-sealer.ts'
export * from './invite.ts'
export * from './pairing-proof.ts'
