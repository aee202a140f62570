/// Every layer kind's phases, in the order of the Dsl's registry, looked up by the kind's name.
module Receptor.Core.Kinds.Registry

open Receptor.Dsl
open Receptor.Core.Signal

/// Every kind's phases, in the order of `Receptor.Dsl.Registry.kinds`.
val internal all: KindPhases list

/// The Dsl's kinds that have no phases here, and names here that the Dsl does not know: both empty, as a
/// test checks, so that every layer that checks also propagates, compiles and initialises.
val unregistered: string list * string list

/// The phases of a checked layer's kind, or why there are none (a tree built by hand with an unknown kind).
val internal tryPhases: layer: CheckedLayer -> Result<KindPhases, string>

/// The phases of a checked layer's kind. Checking only accepts registered kinds, so a miss is a bug
/// (`InvalidOperationException`).
val internal phases: layer: CheckedLayer -> KindPhases

/// Whether the kind (by canonical name) holds weights that an initialiser sets; false for an unknown name.
val isWeighted: kind: string -> bool

/// What the receptive-field tools may assume of the kind (by canonical name); None for an unknown name.
val field: kind: string -> FieldBehaviour option

/// The activation a checked layer computes element by element, when its kind is an activation. The kind must
/// be registered (see `phases`).
val activation: layer: CheckedLayer -> Moments.Activation option

/// The same layer as `count` independent copies side by side (see Fields/Widen), for a layer of a known kind
/// (name or alias), or why it cannot be widened.
val copies: count: int -> layer: Layer -> Result<Node, string>

/// The activation one layer computes (None when its kind is not an activation), checked as in a network on
/// a flat input, so that act's scalars need their initial values.
val activationOfLayer: layer: Layer -> Result<Moments.Activation option, Diagnostic>
