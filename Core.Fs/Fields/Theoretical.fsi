/// Theoretical receptive fields read off an analysis: which layer, which output unit, and the input
/// region that unit sees, with and without the image's edges.
namespace Receptor.Core.Fields

open Receptor.Dsl
open Receptor.Core

/// A closed interval of input pixels along one axis.
type Span = { First: float; Last: float }

/// The input region one output unit of a layer sees.
type UnitRegion =
    { /// The layer's path.
      Layer: string
      /// (row, column) of the output unit in the layer's output plane.
      Unit: int * int
      /// Centre of the unit's field in input coordinates (row, column).
      Centre: float * float
      /// The field as the arithmetic gives it, possibly reaching past the image (rows, columns).
      Unclipped: Span * Span
      /// The part of the field inside the image.
      Clipped: Span * Span }

/// Layers and units of an analysis, and the regions they see.
module Theoretical =
    /// The node at a path; an unknown path is an error with the nearest path as a hint.
    val findLayer: report: AnalysisReport -> path: string -> Result<NodeReport, Diagnostic>

    /// The last spatial map with a local field, global pooling's 1×1 output excepted: the default layer for
    /// `rf` and `erf`. An error if the network has none.
    val lastSpatial: report: AnalysisReport -> Result<NodeReport, Diagnostic>

    /// The layer at the path, or the last spatial one (`lastSpatial`) for None; it must have a spatial output.
    val chooseLayer: report: AnalysisReport -> path: string option -> Result<NodeReport, Diagnostic>

    /// The central unit of a layer's output plane (the lower middle for even sizes), as (row, column).
    val centreUnit: node: NodeReport -> int * int

    /// The input region that unit (row, column) of the layer sees; a unit off the plane is an error. A global
    /// field covers the whole image.
    val region: report: AnalysisReport -> node: NodeReport -> row: int * column: int -> Result<UnitRegion, Diagnostic>

    /// Parses `row,column` (integers, spaces allowed around them).
    val parseUnit: text: string -> Result<int * int, Diagnostic>
