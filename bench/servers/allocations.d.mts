/** Bytes allocated on the JavaScript heap, and promoted by minor GCs, since the process started. */
export declare function allocations(): { allocatedBytes: number; promotedBytes: number };
