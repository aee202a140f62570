/// An initialisation as a user names it (method, rules, weight law, residual policy) and what it takes to
/// apply one: the tree a residual policy compiles, the input it assumes, and the draw. `receptor init` and
/// training (TrainOptions.Start) share it.
namespace Receptor.Core.Signal

open Receptor.Dsl
open Receptor.Core.Data
open Receptor.Core.Torch
open Receptor.Core.Signal.Initialisers
open Receptor.Core.Signal.ResidualPolicies

/// An initialisation, parsed but not yet bound to data: GradInit learns on the images it is applied with.
type InitSpec =
    { /// One of InitSpec.methods.
      Method: string
      /// The propagation's rules (AutoInit's choices depend on them).
      Rules: Rules
      /// How the weights are drawn.
      Law: WeightLaw
      /// How residual sums are treated, if at all.
      Residual: ResidualPolicy option }

/// What an initialisation looks at besides the network.
type InitData =
    /// Standard-normal pixels: the propagation's default input (`receptor init` without --data), and LSUV's
    /// batch. GradInit cannot learn on them.
    | StandardNormal
    /// Labelled images, fitted to the network's input: their per-position moments for the propagation (as
    /// `receptor init --data mnist`), a batch of them for LSUV, all of them for GradInit.
    | Images of Dataset

/// What one initialisation did.
type InitReport =
    { /// The initialisation drawn.
      Spec: InitSpec
      /// The seed torch's generator was given.
      Seed: int
      /// What the propagation assumed of the input.
      Input: string
      /// The weight variances the method chose and the moments it predicts at every node (LSUV and GradInit
      /// rescale afterwards).
      Plan: Prediction }

/// Naming, parsing and describing initialisations.
module InitSpec =
    /// The method names a spec accepts, in the order help texts list them.
    val methods: string list

    /// AutoInit under the exact rules, normal weights, no residual policy: what training starts from unless
    /// told otherwise.
    val defaults: InitSpec

    /// A spec from the names the command line uses (`--method`/`--init`, `--rules`, `--law`, `--residual`),
    /// or what is wrong with them. Method names are stored in their canonical spelling.
    val parse: method: string -> rules: string -> law: string -> residual: string option -> Result<InitSpec, string>

    /// `autoinit (rules exact, law normal, residual sqrt-n)`.
    val describe: spec: InitSpec -> string

/// Binding a spec to a program and data: compiling the tree it needs and drawing its weights.
module Initialisation =
    /// The spec's method; GradInit is made here with the labelled images it learns on (an error without them),
    /// from He's draw as the reference's networks start.
    val methodFor: spec: InitSpec -> labelled: Dataset option -> Result<Method, Diagnostic>

    /// The network a spec initialises, with TorchSharp's default weights: compiled from the tree its
    /// residual policy makes (restore and sqrt-n rescale the sums, zero-gamma starts the last norm of each
    /// residual body at γ = 0; restore plans on the data's moments), with SkipInit's α. A checkpoint of an
    /// initialised network loads into it.
    val compile: spec: InitSpec -> data: InitData -> program: Program -> Result<Network, Diagnostic>

    /// Draws a network's weights as the spec says, seeded: the same seed gives the same weights. The network
    /// must come from `compile` (or `initialise`) with the same spec when its residual policy changes the tree.
    val apply: spec: InitSpec -> seed: int -> data: InitData -> network: Network -> Result<InitReport, Diagnostic>

    /// Compiles and initialises in one: torch seeded once, before the compilation, so that the layers no
    /// method plans (normalisation, DynOPool's scales) are as reproducible as the planned ones.
    val initialise:
        spec: InitSpec -> seed: int -> data: InitData -> program: Program -> Result<Network * InitReport, Diagnostic>
