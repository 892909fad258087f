import type { AncestorStanding, Outcome } from "../types.js";
import { deny } from "./verdicts.js";

/**
 * A delegated capability is a share of its parent's stage, so it dies with that
 * stage: once any sequence above it has moved on, sealed (completed or revoked)
 * or is unknown, the child's token is out of order like the parent's own token of
 * that stage. Every sequence of a delegation chain runs a stage of the same id
 * (the child's one stage is named after the stage it was delegated from), so each
 * ancestor must stand at `stage`. No lineage (a sequence nobody delegated, or a
 * receipt written before lineage was recorded): nothing to check.
 */
export function lineageProblem(stage: string, lineage: readonly AncestorStanding[] | undefined): Outcome | null {
  const closed = lineage?.find((ancestor) => ancestor.status !== "active" || ancestor.stage !== stage);
  if (!closed) return null;
  const where = closed.status === "active" ? `is at stage ${closed.stage}` : `is ${closed.status}`;
  return deny("SEQUENCE_VIOLATION", `capability is a share of stage ${stage} of sequence ${closed.sequence}, which ${where}`, {
    token_stage: stage,
    ancestor: closed,
  });
}
