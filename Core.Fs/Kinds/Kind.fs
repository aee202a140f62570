/// A layer kind as Core.Fs sees it: one value per kind holding every phase after checking, beside the Dsl's
/// static facts (Dsl/Layers). The files of this folder mirror Dsl/Layers one to one and Registry.fs lists
/// them; the passes (Signal/Propagation, Torch/Network, Signal/Initialisers, Fields/Cone, Fields/Widen) look a
/// layer's kind up there, so a kind that lacks a phase does not compile.
namespace Receptor.Core.Kinds

open Receptor.Dsl
open Receptor.Core.Signal
open Receptor.Core.Signal.Signal
open Receptor.Core.Torch

/// What the receptive-field tools may assume of a kind.
type FieldBehaviour =
    { /// Its output at a position is a fixed function of the inputs in its window, whatever the size of the
      /// map, so a network of such kinds computes the same unit on a crop (Fields/Cone).
      Local: bool
      /// Its theoretical field is exactly the support of its input gradient (not a nominal or maximal extent,
      /// nor a fractional one).
      Exact: bool
      /// The kind that computes a positive linear map with the same field (activations and normalisations
      /// become `identity`, max pooling becomes average pooling), or None when it already is one.
      Linearised: string option }

/// How a kind is widened into N independent copies side by side (Fields/Widen): its arguments for N times
/// the channels, or why it cannot be.
type Copies = int -> Layer -> Result<Node, string>

/// Everything Core.Fs does with one layer kind.
type internal KindPhases =
    { Kind: LayerKind
      /// Receptor's exact moment rule (Signal/Propagation).
      Moments: Context -> CheckedLayer -> Signal -> Result<Signal, string>
      /// AutoInit's own rule (Bingham & Miikkulainen 2023), kept to compare with the exact one.
      AutoInit2023: Context -> CheckedLayer -> AutoInitRules.Scalar -> Result<AutoInitRules.Scalar, string>
      /// The TorchSharp module of a checked layer.
      Module: CheckedLayer -> CompiledLayer
      /// Whether the kind holds weights that an initialiser sets (it then asks Context.choose for them).
      Weighted: bool
      /// The activation it computes element by element, when it is one.
      Activation: (CheckedLayer -> Moments.Activation) option
      Field: FieldBehaviour
      Copies: Copies }

module FieldBehaviour =
    /// A local kind whose field is exact and which is already positive-linear (convolutions, average pooling).
    let linear = { Local = true; Exact = true; Linearised = None }

    /// A local, exactly fielded kind that acts element by element and linearises to the identity.
    let elementwise = { Local = true; Exact = true; Linearised = Some "identity" }

module Copies =
    /// Kinds that act channel by channel (or come after every spatial layer) widen unchanged.
    let unchanged: Copies = fun _ layer -> Ok (Op layer)

    /// The layer, as kind `kind`, with each named whole-number argument (default 1) multiplied by N.
    let multiplying kind (names: string list) : Copies =
        fun copies layer ->
            let value name = match layer.Args |> List.tryFind (fun (n, _) -> n = name) with Some (_, Int i) -> i | _ -> 1
            let kept = layer.Args |> List.filter (fun (n, _) -> not (List.contains n names))
            Ok (Combinators.layer kind (kept @ [ for name in names -> name, Int (copies * value name) ]))

    /// A kind that cannot be widened, and why.
    let impossible reason : Copies = fun _ _ -> Error reason
