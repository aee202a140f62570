/// Every layer kind the language knows, looked up by name or alias.
module Receptor.Dsl.Registry

open Receptor.Dsl

/// Every layer kind, grouped as Dsl/Layers orders its files: convolutions, pooling, normalisation,
/// activations, structural layers, field layers, dendritic, non-local and DynOPool layers.
val kinds: LayerKind list

/// Every name a layer may be written with, canonical names and aliases, sorted.
val names: string list

/// The kind a canonical name or an alias denotes; None for a name no kind has.
val tryFind: name: string -> LayerKind option

/// The candidate closest to `name` (compared in lower case) by edit distance, if it is close enough to be a
/// plausible typo: at most max(2, length / 3) edits. Gives the "did you mean" hints of diagnostics.
val nearest: candidates: string seq -> name: string -> string option
