/// Activations (Dsl/Layers/Activations.fs): the named ones and any expression of x. Each kind's moment and
/// AutoInit rules follow from the activation it computes.
module internal Receptor.Core.Kinds.Activations

open TorchSharp
open Receptor.Dsl
open Receptor.Core.Signal
open Receptor.Core.Signal.Moments
open Receptor.Core.Torch

type private F = torch.nn.functional

let private activation kind (computes: CheckedLayer -> Activation) autoInit build =
    { Kind = kind
      Moments = fun _ layer input -> LayerRules.activation (computes layer) input
      AutoInit2023 = autoInit
      Module = build
      Weighted = false
      Activation = Some computes
      Field = FieldBehaviour.elementwise
      Copies = Copies.unchanged }

/// An activation whose AutoInit rule is its own moments.
let private exact kind computes build =
    activation kind computes (fun context layer input -> AutoInitRules.activation (computes layer) context layer input) build

let private fixedKind kind (a: Activation) forward = exact kind (fun _ -> a) (LayerModules.stateless kind.Name forward)

let relu = fixedKind Layers.Activations.relu Activation.relu F.relu
let relu6 = fixedKind Layers.Activations.relu6 Activation.relu6 (fun x -> F.relu6 x)
let selu = fixedKind Layers.Activations.selu Activation.selu (fun x -> F.selu x)
let gelu = fixedKind Layers.Activations.gelu Activation.gelu (fun x -> F.gelu x)
let mish = fixedKind Layers.Activations.mish Activation.mish (fun x -> F.mish x)
let tanh = fixedKind Layers.Activations.tanh Activation.tanh' (fun x -> x.tanh ())
let sigmoid = fixedKind Layers.Activations.sigmoid Activation.sigmoid (fun x -> x.sigmoid ())
let softplus = fixedKind Layers.Activations.softplus Activation.softplus (fun x -> F.softplus x)
let hardswish = fixedKind Layers.Activations.hardswish Activation.hardswish (fun x -> F.hardswish x)
let hardsigmoid = fixedKind Layers.Activations.hardsigmoid Activation.hardsigmoid (fun x -> F.hardsigmoid x)
let arcsine =
    // Constants as tensors of x's type: TorchSharp 0.107's double-Scalar overloads failed here now and then
    // ("toFloat" on a freed Scalar) under the finite-width test's thousands of forward passes.
    let constant (x: torch.Tensor) (value: float) = torch.tensor (value, dtype = x.dtype, device = x.device)
    fixedKind Layers.Activations.arcsine Activation.arcsine (fun x ->
        x.mul(constant x (1.0 / sqrt 2.0)).erf().mul(constant x (System.Math.PI / 2.0)).sin().mul (constant x (sqrt 2.0)))

let leaky =
    exact Layers.Activations.leaky (fun layer -> Activation.leaky "leaky" (Layers.Activations.leakySlope layer.Args)) LayerModules.leaky

let elu = exact Layers.Activations.elu (fun layer -> Activation.elu (Layers.Activations.eluAlpha layer.Args)) LayerModules.elu

let silu = exact Layers.Activations.silu (fun layer -> Activation.silu (Layers.Activations.siluBeta layer.Args)) LayerModules.silu

/// AutoInit takes PReLU for ReLU whatever its initial slope.
let prelu =
    activation Layers.Activations.prelu
        (fun layer -> Activation.leaky "prelu" (fst (Layers.Activations.preluSettings layer.Args)))
        (AutoInitRules.activation Activation.relu) LayerModules.prelu

let act =
    exact Layers.Activations.act (fun layer -> Layers.Activations.expression layer.Args ||> Activation.expression) LayerModules.act

let kinds = [ relu; relu6; leaky; prelu; elu; selu; gelu; silu; mish; tanh; sigmoid; softplus; hardswish; hardsigmoid; arcsine; act ]
