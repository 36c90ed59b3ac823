// Which cleaning a chunk of console bytes needs: does it hold a control
// character the transcript removes (below space but tab and newline, or DEL),
// is it plain ASCII. This runs over every byte of console, so it uses a tiny
// WebAssembly SIMD routine, sixteen bytes at a time; JavaScript four bytes at
// a time is the fallback where WebAssembly is unavailable.

export interface ByteScan {
  control: boolean;
  ascii: boolean;
}

// The routine, encoded by hand (a few dozen bytes; the names say what each is):
//   scan(len): for each 16 bytes v of memory[0, len):
//     high |= v; control |= (v <u 0x20 and not (v == 0x09 or v == 0x0a)) or v == 0x7f
//   returns (any control) | (any high bit) << 1
const OP = {
  block: 0x02,
  loop: 0x03,
  br: 0x0c,
  brIf: 0x0d,
  end: 0x0b,
  localGet: 0x20,
  localSet: 0x21,
  i32Const: 0x41,
  i32Ne: 0x47,
  i32GeU: 0x4f,
  i32Add: 0x6a,
  i32Or: 0x72,
  i32Shl: 0x74,
  void: 0x40,
  i32: 0x7f,
  v128: 0x7b,
} as const;
const SIMD = 0xfd;
const V128 = { load: 0x00, const: 0x0c, i8x16Eq: 0x23, i8x16LtU: 0x26, andnot: 0x4f, or: 0x50, anyTrue: 0x53, i8x16Bitmask: 0x64 } as const;
const [LEN, I, CONTROL, HIGH, V] = [0, 1, 2, 3, 4];
const CHUNK = 64 * 1024;

const splat = (byte: number) => [SIMD, V128.const, ...new Array<number>(16).fill(byte)];
const isByte = (byte: number) => [OP.localGet, V, ...splat(byte), SIMD, V128.i8x16Eq];
const body = [
  ...[2, 1, OP.i32, 3, OP.v128], // locals: i; control, high, v
  ...[OP.block, OP.void, OP.loop, OP.void],
  ...[OP.localGet, I, OP.localGet, LEN, OP.i32GeU, OP.brIf, 1],
  ...[OP.localGet, I, SIMD, V128.load, 4, 0, OP.localSet, V],
  ...[OP.localGet, HIGH, OP.localGet, V, SIMD, V128.or, OP.localSet, HIGH],
  ...[OP.localGet, CONTROL],
  ...[OP.localGet, V, ...splat(0x20), SIMD, V128.i8x16LtU],
  ...[...isByte(0x09), ...isByte(0x0a), SIMD, V128.or, SIMD, V128.andnot],
  ...[...isByte(0x7f), SIMD, V128.or, SIMD, V128.or, OP.localSet, CONTROL],
  ...[OP.localGet, I, OP.i32Const, 16, OP.i32Add, OP.localSet, I, OP.br, 0, OP.end, OP.end],
  ...[OP.localGet, CONTROL, SIMD, V128.anyTrue],
  ...[OP.localGet, HIGH, SIMD, V128.i8x16Bitmask, OP.i32Const, 0, OP.i32Ne, OP.i32Const, 1, OP.i32Shl, OP.i32Or, OP.end],
];
const name = (s: string) => [s.length, ...Buffer.from(s)];
const section = (id: number, bytes: number[]) => [id, ...leb128(bytes.length), ...bytes];
const MODULE = new Uint8Array([
  ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
  ...section(1, [1, 0x60, 1, OP.i32, 1, OP.i32]), // type: (i32) -> i32
  ...section(3, [1, 0]), // one function of that type
  ...section(5, [1, 0x00, 2]), // memory: two pages, one chunk and padding
  ...section(7, [2, ...name('memory'), 0x02, 0, ...name('scan'), 0x00, 0]),
  ...section(10, [1, ...leb128(body.length), ...body]),
]);

function leb128(n: number): number[] {
  const out: number[] = [];
  do {
    const byte = n & 0x7f;
    n >>>= 7;
    out.push(n === 0 ? byte : byte | 0x80);
  } while (n !== 0);
  return out;
}

/** The part of the WebAssembly API used here (the compiler's library settings do not declare it). */
interface Wasm {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: { scan: (len: number) => number; memory: { buffer: ArrayBuffer } } };
}

function loadSimd(): ((bytes: Uint8Array) => ByteScan) | undefined {
  try {
    const wasm = (globalThis as { WebAssembly?: Wasm }).WebAssembly!;
    const { exports } = new wasm.Instance(new wasm.Module(MODULE));
    const scan = exports.scan;
    const memory = new Uint8Array(exports.memory.buffer);
    return (bytes) => {
      let flags = 0;
      for (let at = 0; at < bytes.length; at += CHUNK) {
        const piece = bytes.subarray(at, at + CHUNK);
        memory.set(piece);
        const padded = (piece.length + 15) & ~15;
        memory.fill(0x20, piece.length, padded); // spaces: neither control nor high
        flags |= scan(padded);
      }
      return { control: (flags & 1) !== 0, ascii: (flags & 2) === 0 };
    };
  } catch {
    return undefined;
  }
}

const isControl = (b: number) => (b < 0x20 ? b !== 0x09 && b !== 0x0a : b === 0x7f);

/** The same test in JavaScript, four bytes at a time, without branches. */
export function scanBytesPortable(bytes: Uint8Array): ByteScan {
  let control = false;
  let high = 0;
  let i = 0;
  for (; i < bytes.length && (bytes.byteOffset + i) % 4 !== 0; i++) {
    control ||= isControl(bytes[i]!);
    high |= bytes[i]!;
  }
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset + i, (bytes.length - i) >>> 2);
  let found = 0;
  for (let w = 0; w < words.length; w++) {
    const x = words[w]!;
    const low = x & 0x7f7f7f7f;
    // Per byte, bit 7 of each term says: below 0x09; between 0x0b and 0x1f;
    // equal to 0x7f (all for bytes below 0x80, which ~x checks). No term carries into the next byte.
    found |= ~x & ((0x88888888 - low) | ((0x9f9f9f9f - low) & (low + 0x75757575)) | ~((low ^ 0x7f7f7f7f) + 0x7f7f7f7f));
    high |= x;
  }
  for (i += words.length * 4; i < bytes.length; i++) {
    control ||= isControl(bytes[i]!);
    high |= bytes[i]!;
  }
  return { control: control || (found & 0x80808080) !== 0, ascii: (high & 0x80808080) === 0 };
}

const simd = loadSimd();

/** Whether the bytes need cleaning (a control character) and whether they are plain ASCII. */
export const scanBytes: (bytes: Uint8Array) => ByteScan = simd ?? scanBytesPortable;

/** Whether the fast routine is in use (for tests). */
export const usingSimd = simd !== undefined;
