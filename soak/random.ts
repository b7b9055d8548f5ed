/** The soak's dice: every choice of load and fault is uniform. */
export const random = (min: number, max_: number) => min + Math.random() * (max_ - min)
export const pick = <A>(items: ReadonlyArray<A>): A => items[Math.floor(Math.random() * items.length)]!
