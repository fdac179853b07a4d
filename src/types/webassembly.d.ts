// The parts of the WebAssembly JS API the host uses (Node's global; @types/node 20 does not
// declare it, and pulling in the DOM library would bring browser globals into the host).
declare namespace WebAssembly {
  class Module {
    constructor(bytes: BufferSource);
  }
  class Instance {
    constructor(module: Module, imports?: Record<string, Record<string, unknown>>);
    readonly exports: Record<string, unknown>;
  }
  class Memory {
    constructor(descriptor: { initial: number; maximum?: number; shared?: boolean });
    readonly buffer: ArrayBuffer;
    grow(delta: number): number;
  }
}
type BufferSource = ArrayBufferView | ArrayBuffer;
