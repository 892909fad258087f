import { DecisionSchema } from "../../schemas.js";

export const decisionResponse = (description: string) => ({
  description,
  content: { "application/json": { schema: DecisionSchema } },
});
