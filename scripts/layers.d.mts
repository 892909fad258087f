export interface CrossImport {
  file: string;
  from: string;
  to: string;
  specifier: string;
  upward: boolean;
}
export const ALLOWED: Record<string, string[]>;
export function isUpward(from: string, to: string): boolean;
export function crossImports(): CrossImport[];
