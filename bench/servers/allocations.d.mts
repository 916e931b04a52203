/** Bytes allocated on the JavaScript heap, bytes promoted by minor GCs, and microseconds of GC on the main thread, since the process started. */
export declare function allocations(): { allocatedBytes: number; promotedBytes: number; gcMicros: number };
