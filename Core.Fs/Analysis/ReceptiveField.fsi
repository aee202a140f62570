/// Theoretical receptive fields (Araujo, Norris & Sim, Distill 2019), composed forwards from the input,
/// with multi-path alignment: every path into a merge must agree on effective stride and centre offset.
namespace Receptor.Core

open Receptor.Dsl

/// The receptive field along one axis, in input pixels.
type AxisField =
    { /// Input pixels the field of one output unit spans, padding included.
      Size: float
      /// Input pixels between the fields of neighbouring output units.
      Stride: float
      /// Effective left padding: the field of output unit 0 starts at −Padding.
      Padding: float }

/// The receptive field of a layer's output units.
type Field =
    /// A spatial map: the field along each axis.
    | Local of height: AxisField * width: AxisField
    /// A flat input: every unit sees all of it.
    | Global

/// Composition of one axis's field.
module AxisField =
    /// The field of the input itself: one pixel, stride 1, no padding.
    val unit: AxisField

    /// Centre of output unit u in input coordinates: −Padding + u·Stride + (Size − 1)/2.
    val centre: field: AxisField -> u: float -> float

    /// The field after a window of the given kernel, stride and padding, written forwards:
    /// Size' = Size + (kernel − 1)·Stride, Stride' = Stride·stride, Padding' = Padding + padding·Stride.
    /// A dilated kernel enters as its effective extent.
    val step: field: AxisField -> kernel: float -> stride: float -> padding: float -> AxisField

/// Composition of a layer's field.
module Field =
    /// The field of an input of the given shape: `AxisField.unit` per axis for an image, `Global` for a flat
    /// input.
    val input: shape: Shape -> Field

    /// The field after a layer's step: a window steps each axis (`AxisField.step`), a pointwise layer keeps
    /// the field, and a global field stays global.
    val step: field: Field -> fieldStep: FieldStep -> Field

    /// The field after a merge: per axis the widest path's, plus a message for each path misaligned with the
    /// path of largest area (a different stride or centre of unit 0 along an axis, beyond rounding). Global,
    /// without messages, if any path is global.
    val merge: fields: Field list -> Field * string list
