/**
 * `FeedEvent.Change({ change, cursor })` whose cursor is encoded when first
 * read: encoding one per change costs more than building the change, and most
 * consumers store one cursor per batch (`consume` does). The event is the same
 * object: `cursor` is an own enumerable property (an accessor until read, a
 * plain property after), so spreading, `Equal` and JSON see it as before.
 */
import type { Change } from "../../Change.js"
import { FeedEvent } from "../../FeedEvent.js"
import type * as Cursor from "../cursor.js"

export const changeEvents = (encode: (position: Cursor.Position) => string): (change: Change) => FeedEvent => {
  const cursor: PropertyDescriptor = {
    get(this: { readonly change: Change }) {
      const value = encode(this.change)
      // Not on a frozen event: that one encodes at each read.
      Reflect.defineProperty(this, "cursor", { value, writable: true, enumerable: true, configurable: true })
      return value
    },
    enumerable: true,
    configurable: true
  }
  // The properties in FeedEvent.Change's order, on its prototype.
  function ChangeEvent(this: { change: Change; _tag: "Change" }, change: Change) {
    this.change = change
    Object.defineProperty(this, "cursor", cursor)
    this._tag = "Change"
  }
  ChangeEvent.prototype = Object.getPrototypeOf(FeedEvent.Change({ change: undefined as never, cursor: "" }))
  const make = ChangeEvent as unknown as new(change: Change) => FeedEvent
  return (change) => new make(change)
}
