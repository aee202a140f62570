/// FsCheck generators of well-typed architectures, public so that users can property-test their own code.
module Receptor.Properties.Generators
