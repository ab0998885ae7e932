// Loaded before every test file, as the daemon entry loads it before anything else.
import '../src/polyfill.ts'
