/** A caller waiting for the commit that holds its item. */
interface Waiting<Item, Result> {
  item: Item;
  resolve: (result: Result) => void;
  reject: (failure: unknown) => void;
}

/**
 * Group commit: the calls that arrive while one waits for its commit are committed with it, in
 * one go (one transaction: one WAL commit, one sync) instead of one each. Under load an object's
 * callers queue behind one another anyway (every ledger hands its allowed redeems to the same
 * actor's analyst), and most pages a delivery writes (the index's, the cursors') are the same
 * pages the next one writes, so a batch writes little more than one delivery would. Each
 * caller still gets its own result, and only after the commit that holds its item. A batch
 * that fails is tried again item by item, so one failing item fails only its own caller.
 */
export class GroupCommit<Item, Result> {
  readonly #commit: (batch: readonly Item[]) => Result[];
  #waiting: Waiting<Item, Result>[] = [];

  /** `commit` does one batch's work in one transaction, and answers one result per item, in order. */
  constructor(commit: (batch: readonly Item[]) => Result[]) {
    this.#commit = commit;
  }

  take(item: Item): Promise<Result> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ item, resolve, reject });
      // The first waiting call schedules the commit for the next turn of the event loop; the
      // calls delivered before that turn join it.
      if (this.#waiting.length === 1) setTimeout(() => this.#run(), 0);
    });
  }

  #run(): void {
    const batch = this.#waiting;
    this.#waiting = [];
    let results: Result[];
    try {
      results = this.#commit(batch.map((w) => w.item));
    } catch (failure) {
      if (batch.length === 1) batch[0]?.reject(failure);
      else this.#oneByOne(batch);
      return;
    }
    for (const [i, w] of batch.entries()) w.resolve(results[i] as Result);
  }

  #oneByOne(batch: readonly Waiting<Item, Result>[]): void {
    for (const w of batch) {
      try {
        w.resolve(this.#commit([w.item])[0] as Result);
      } catch (failure) {
        w.reject(failure);
      }
    }
  }
}
