'use strict'
// Preload that keeps a Node server off the network: every TCP listen in the
// process binds 127.0.0.1, whatever host (or none) the program asked for.
// kinesalite has no --host flag and dynalite defaults to all interfaces.
//
//   node -r ./loopback.js node_modules/kinesalite/cli.js --port 4567
//
// Listens on a unix socket path, a file descriptor or an existing handle are
// left alone. http/https servers inherit net.Server's listen, so they are
// covered too.
const net = require('net')

const HOST = '127.0.0.1'
const listen = net.Server.prototype.listen

net.Server.prototype.listen = function (...args) {
  const cb = typeof args[args.length - 1] === 'function' ? args.pop() : undefined
  const first = args[0]
  let opts
  if (first === undefined || first === null || typeof first === 'number' ||
      (typeof first === 'string' && /^\d+$/.test(first))) {
    // listen([port[, host[, backlog]]]) or listen(port, backlog)
    opts = { port: first == null ? 0 : Number(first), host: HOST }
    const backlog = typeof args[1] === 'number' ? args[1] : args[2]
    if (typeof backlog === 'number') opts.backlog = backlog
  } else if (typeof first === 'object' && first.path === undefined &&
             first.fd === undefined && first._handle === undefined &&
             first.handle === undefined) {
    // listen(options)
    opts = Object.assign({}, first, { host: HOST })
  } else {
    // unix socket path, fd or handle: not a TCP port on an interface
    if (cb) args.push(cb)
    return listen.apply(this, args)
  }
  return cb ? listen.call(this, opts, cb) : listen.call(this, opts)
}
