// Node 20 lacks Promise.withResolvers (added in Node 22), and libp2p 3 calls it at run
// time. Import this module first — in the daemon entry and the test setup — and nowhere
// else, so the gap is closed in exactly one place.

interface Resolvers<T> {
  promise: Promise<T>
  resolve: (value: T | PromiseLike<T>) => void
  reject: (reason?: unknown) => void
}

type PromiseWithResolvers = PromiseConstructor & { withResolvers?: <T>() => Resolvers<T> }

const PromiseCtor = Promise as PromiseWithResolvers

if (typeof PromiseCtor.withResolvers !== 'function') {
  Object.defineProperty(PromiseCtor, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers<T>(this: PromiseConstructor): Resolvers<T> {
      let resolve!: Resolvers<T>['resolve']
      let reject!: Resolvers<T>['reject']
      const promise = new this<T>((res, rej) => {
        resolve = res
        reject = rej
      })
      return { promise, resolve, reject }
    },
  })
}

export {}
