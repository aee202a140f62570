namespace Receptor.Core.Data

/// SplitMix64: a tiny seeded generator whose sequence is fixed by this code, so a seed names the same
/// data on every runtime (System.Random's seeded sequence is not a documented contract).
type Rng(seed: int) =
    let mutable state = uint64 seed

    member _.NextUInt64() =
        state <- state + 0x9E3779B97F4A7C15UL
        let z = (state ^^^ (state >>> 30)) * 0xBF58476D1CE4E5B9UL
        let z = (z ^^^ (z >>> 27)) * 0x94D049BB133111EBUL
        z ^^^ (z >>> 31)

    /// Uniform in [0, bound); the modulo bias is below 2^-40 for the bounds used here.
    member r.NextInt(bound: int) = int (r.NextUInt64() % uint64 bound)

    /// Uniform in [0, 1).
    member r.NextFloat() = float (r.NextUInt64() >>> 11) * (1.0 / 9007199254740992.0)

    /// Standard normal (Box–Muller).
    member r.NextGaussian() =
        let u = 1.0 - r.NextFloat()
        sqrt (-2.0 * log u) * cos (2.0 * System.Math.PI * r.NextFloat())

    /// Fisher–Yates, in place.
    member r.Shuffle(items: 'T[]) =
        for i in items.Length - 1 .. -1 .. 1 do
            let j = r.NextInt(i + 1)
            let t = items[i]
            items[i] <- items[j]
            items[j] <- t
