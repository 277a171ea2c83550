/** What provisioning did, and what it could not do, as lines for the operator. */
export class ProvisionReport {
  readonly done: string[] = []
  readonly nextSteps: string[] = []
  readonly #print: (line: string) => void

  constructor(print: (line: string) => void = console.log) {
    this.#print = print
  }

  ok(line: string): void {
    this.done.push(line)
    this.#print(line)
  }

  /** Something a person must do (verify an identity, grant a role); printed again at the end. */
  next(step: string): void {
    this.nextSteps.push(step)
    this.#print(`! ${step}`)
  }
}
