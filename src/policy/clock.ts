/** The time a check is made at, and how much clock difference it tolerates. */
export interface Clock {
  /** Seconds since the epoch (fractional), as JWT times are compared with it. */
  readonly nowSeconds: number;
  /** Tolerance on issued-at and expiry times, in seconds. */
  readonly skew: number;
}
