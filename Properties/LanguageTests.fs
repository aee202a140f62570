module Receptor.Properties.LanguageTests

open Expecto
open Receptor.Dsl

let tests = testList "language" []
