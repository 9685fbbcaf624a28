/**
 * The one fp16 reference of the tests: c10::Half(float) rounding (nearest, ties to even, subnormals
 * and overflow to infinity included) is the library's own bit-exact converter in
 * lib/checkpoint/dtypes.ts, which torch's `.half()` files are checked against.
 */
import { floatToHalf, halfToFloat } from '../../lib/checkpoint/dtypes';

/** The fp16 value nearest to x (round half to even), as a number: what F16C and c10::Half give. */
export function roundToFp16(x: number): number {
  return halfToFloat(floatToHalf(x));
}

/** fp16's spacing at |x| (normal range; the subnormal spacing below 2^-14). */
export function fp16Ulp(x: number): number {
  const a = Math.abs(x);
  if (a < 2 ** -14) return 2 ** -24;
  return 2 ** (Math.floor(Math.log2(a)) - 10);
}
